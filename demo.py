"""The main job end to end on the synthetic corpus: what `make demo` runs."""

# the code, and the whole description (python demo.py --help): kws/demo.py

from kws import cli
from kws.demo import main

if __name__ == "__main__":
    cli.run(main)
