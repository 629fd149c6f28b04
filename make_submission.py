"""Predicts every clip of a test folder with a trained run; writes a submission and probabilities."""

# the code, and the whole description (python make_submission.py --help): kws/submit/make_submission.py

from kws import cli
from kws.submit.make_submission import main

if __name__ == "__main__":
    cli.run(main)
