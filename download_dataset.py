"""Downloads the Speech Commands dataset and extracts it into the project's data layout."""

# the code, and the whole description (python download_dataset.py --help): kws/data/download_dataset.py

from kws import cli
from kws.data.download_dataset import main

if __name__ == "__main__":
    cli.run(main)
