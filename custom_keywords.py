"""Your own keywords from text, in any eSpeak NG language: one resumable command from words to a spotter."""

# the code, and the whole description (python custom_keywords.py --help): kws/custom_keywords.py

from kws import cli
from kws.custom_keywords import main

if __name__ == "__main__":
    cli.run(main)
