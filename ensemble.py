"""Ensembles several probability files into one submission: weighted mean or majority vote."""

# the code, and the whole description (python ensemble.py --help): kws/submit/ensemble.py

from kws import cli
from kws.submit.ensemble import main

if __name__ == "__main__":
    cli.run(main)
