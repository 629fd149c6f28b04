"""Spots keywords in long audio or a live microphone: the model's window slid over a stream."""

# the code, and the whole description (python spot_keywords.py --help): kws/stream/spot_keywords.py

from kws import cli
from kws.stream.spot_keywords import main

if __name__ == "__main__":
    cli.run(main)
