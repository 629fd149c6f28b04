"""Trains one keyword-spotting model and writes its run folder."""

# the code, and the whole description (python train.py --help): kws/training/train.py

from kws import cli
from kws.training.train import main

if __name__ == "__main__":
    cli.run(main)
