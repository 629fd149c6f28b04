"""Pseudo-labels: keeps the test clips whose top probability reaches a threshold, for training again."""

# the code, and the whole description (python create_pseudo_with_thresh.py --help): kws/submit/create_pseudo_with_thresh.py

from kws import cli
from kws.submit.create_pseudo_with_thresh import main

if __name__ == "__main__":
    cli.run(main)
