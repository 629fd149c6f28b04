"""Builds a streaming test: minutes of background noise with words placed at random, and their labels."""

# the code, and the whole description (python make_streaming_test.py --help): kws/stream/make_streaming_test.py

from kws import cli
from kws.stream.make_streaming_test import main

if __name__ == "__main__":
    cli.run(main)
