"""Writes a Kaggle submission on a Raspberry Pi: one clip at a time, few dependencies, resumable."""

# the code, and the whole description (python make_submission_on_rpi.py --help): kws/export/make_submission_on_rpi.py

from kws import cli
from kws.export.make_submission_on_rpi import main

if __name__ == "__main__":
    cli.run(main)
