"""Builds a Speech-Commands-style corpus from speech synthesised with eSpeak NG, plus a Kaggle-style test set."""

# the code, and the whole description (python make_synthetic_dataset.py --help): kws/data/make_synthetic_dataset.py

from kws import cli
from kws.data.make_synthetic_dataset import main

if __name__ == "__main__":
    cli.run(main)
