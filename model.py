"""The Keras 3 model zoo: a registry of small functional builders for keyword spotting."""

# the code, and the whole description (python model.py --help): kws/models/model.py

from kws import cli
from kws.models.model import main

if __name__ == "__main__":
    cli.run(main)
