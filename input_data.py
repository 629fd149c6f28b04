"""Speech Commands data for training and scoring: decode once, plan seeded augmentation, batch."""

# the code, and the whole description (python input_data.py --help): kws/data/input_data.py

from kws import cli
from kws.data.input_data import main

if __name__ == "__main__":
    cli.run(main)
