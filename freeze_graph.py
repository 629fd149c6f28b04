"""Exports a trained run for the Raspberry Pi: a frozen GraphDef and float32 / int8 TFLite models."""

# the code, and the whole description (python freeze_graph.py --help): kws/export/freeze_graph.py

from kws import cli
from kws.export.freeze_graph import main

if __name__ == "__main__":
    cli.run(main)
