"""Mines negatives from long audio: the windows where a model raises a false alarm, as training clips."""

# the code, and the whole description (python mine_negatives.py --help): kws/stream/mine_negatives.py

from kws import cli
from kws.stream.mine_negatives import main

if __name__ == "__main__":
    cli.run(main)
