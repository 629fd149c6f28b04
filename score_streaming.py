"""Scores keyword detections in a stream against the words placed in it; draws the threshold curve."""

# the code, and the whole description (python score_streaming.py --help): kws/stream/score_streaming.py

from kws import cli
from kws.stream.score_streaming import main

if __name__ == "__main__":
    cli.run(main)
