"""Converts a model's probability file to the 12 Kaggle classes, as CSV and as a uint8 memmap."""

# the code, and the whole description (python convert_probs.py --help): kws/submit/convert_probs.py

from kws import cli
from kws.submit.convert_probs import main

if __name__ == "__main__":
    cli.run(main)
