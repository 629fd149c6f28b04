"""What each step of the int8 export buys: decisions kept with and without bias correction and the
float waveform layer, for trained run folders.

    python benchmarks/int8_export.py --runs runs/A runs/B ... [--check_clips 1000]
        [--calibration_clips 300] [--seed 0] [--data_dir DIR ...] [--out int8_export.json]

For each run folder, its best checkpoint is exported to dynamic-range int8 TFLite as
freeze_graph.py does it and in the variants it can turn off (quantization.py): `plain` (the
converter's rounding alone: the baseline), `bias` (bias correction only), `float_wave` (the layer
that reads the waveform kept float; raw-waveform models only) and `both` (freeze_graph.py's
default). Each file runs on up to `--check_clips` clips of the run's validation split (batch 1, as
on the Pi) against the Keras model. Prints, per run and variant, the top-1 agreement and the
number of changed decisions, and the totals with their ratio to `plain`. Reads the run folders
and their data; writes only `--out` (JSON), when given.
"""

import argparse
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from kws import cli
from kws.export import freeze_graph
from kws.models import model
from kws.export import quantization
from kws import runs
from kws.training import settings

VARIANTS = ("plain", "bias", "float_wave", "both")


def int8_variants(keras_model, calibration):
    """{variant: int8 TFLite bytes}; `float_wave` and `both` only for a model with a waveform layer."""
    float_content = freeze_graph.tflite_float(keras_model)
    steps = {"plain": (False, False), "bias": (True, False), "float_wave": (False, True), "both": (True, True)}
    if quantization.waveform_layer(keras_model) is None:
        steps = {"plain": steps["plain"], "bias": steps["bias"]}
    return {variant: freeze_graph.int8_export(keras_model, float_content, calibration, bias_correction=bias,
                                              float_waveform_layer=wave).content
            for variant, (bias, wave) in steps.items()}


def measure(run_dir, args):
    """{"clips": n, variant: {"agreement", "changed", "bytes"}} of one run folder."""
    keras_model, _, config = runs.load_run(run_dir)
    config_path = os.path.join(run_dir, runs.CONFIG_FILE)
    data_dirs = args.data_dir or settings.settings_from_config(config, config_path)["data_dir"]
    clip_samples = model.clip_samples_of(keras_model)
    calibration = freeze_graph.run_clips(data_dirs, "training", config, config_path, args.calibration_clips, args.seed,
                                         clip_samples)
    check = freeze_graph.run_clips(data_dirs, "validation", config, config_path, args.check_clips, args.seed,
                                   clip_samples)
    reference = freeze_graph.predict_keras(keras_model, check)
    row = {"clips": len(check)}
    for variant, content in int8_variants(keras_model, calibration).items():
        same, _ = freeze_graph.agreement(reference, freeze_graph.predict_tflite(content, check))
        row[variant] = {"agreement": same, "changed": int(round((1 - same) * len(check))), "bytes": len(content)}
    return row


def format_report(report):
    lines = ["int8 top-1 agreement with Keras on validation clips (changed decisions); plain = the converter alone",
             f"{'run':40s} {'clips':>5s} " + " ".join(f"{v:>16s}" for v in VARIANTS)]
    totals = dict.fromkeys(VARIANTS, 0)
    for run_dir, row in report.items():
        cells = []
        for variant in VARIANTS:
            figures = row.get(variant, row["bias" if variant == "both" else "plain"])  # no waveform layer: the same
            totals[variant] += figures["changed"]
            cells.append(f"{figures['agreement']:>9.2%} ({figures['changed']:>3d})")
        lines.append(f"{run_dir[-40:]:40s} {row['clips']:>5d} " + " ".join(cells))
    lines.append(f"{'changed decisions, all runs':46s} " + " ".join(f"{totals[v]:>16d}" for v in VARIANTS))
    lines.append(f"{'ratio to plain':46s} " + " ".join(
        f"{totals[v] / totals['plain']:>16.2f}" if totals["plain"] else f"{'-':>16s}" for v in VARIANTS))
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, help="run folders written by train.py")
    parser.add_argument("--check_clips", type=int, default=1000,
                        help="validation clips per run (default: 1000, i.e. all of a small split)")
    parser.add_argument("--calibration_clips", type=int, default=300,
                        help="training clips that measure the bias correction (default: 300, as freeze_graph.py)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip sampling (default: 0)")
    parser.add_argument("--data_dir", nargs="+", default=None, help="dataset folder(s) (default: each run's own)")
    parser.add_argument("--out", default=None, help="also write the figures as JSON")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.out:
        cli.check_outputs([args.out], [], overwrite=True)
    report = {run_dir: measure(run_dir, args) for run_dir in args.runs}
    print(format_report(report))
    if args.out:
        runs.write_json(args.out, report)
    return report


if __name__ == "__main__":
    cli.run(main)
