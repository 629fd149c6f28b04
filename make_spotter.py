"""Builds a spotter folder: the int8 model and a decision rule calibrated for false-alarm rates."""

# the code, and the whole description (python make_spotter.py --help): kws/stream/make_spotter.py

from kws import cli
from kws.stream.make_spotter import main

if __name__ == "__main__":
    cli.run(main)
