"""Coloured and everyday-like background noise: a script, and the noise library of the corpus generator."""

# the code, and the whole description (python generate_noise.py --help): kws/data/generate_noise.py

from kws import cli
from kws.data.generate_noise import main

if __name__ == "__main__":
    cli.run(main)
