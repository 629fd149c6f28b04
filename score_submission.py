"""Scores a submission against a solution with the challenge's metric."""

# the code, and the whole description (python score_submission.py --help): kws/submit/score_submission.py

from kws import cli
from kws.submit.score_submission import main

if __name__ == "__main__":
    cli.run(main)
