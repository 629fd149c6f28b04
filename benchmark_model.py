"""Measures a frozen graph or TFLite model against the Raspberry Pi prize budget (TF's benchmark_model)."""

# the code, and the whole description (python benchmark_model.py --help): kws/export/benchmark_model.py

from kws import cli
from kws.export.benchmark_model import main

if __name__ == "__main__":
    cli.run(main)
