"""int8 exports of every model of the zoo, trained on real speech: do they keep the float decisions?

    python benchmarks/int8_zoo.py --run_dir runs/int8_zoo [--budget_minutes 8] [--budget raw_large=20 ...]
        [--models pi ds_cnn ...]
        [--real_train ../shared/data/speech_commands_real] [--check_clips 366] [--retrain]

For each model of `model.MODELS` (default parameters, 12 Kaggle labels): trains it on the real
training split for `--budget_minutes` (or its `--budget`; experiments/303_zoo_real_speech.toml: experiment 300's
recipe for any model; the slow models stop early and are only partly trained, which makes close
calls, and so int8 disagreements, more likely, not less), then exports it with freeze_graph.py in both int8 modes
(`dynamic`, the default, and `full`) and reads the top-1 agreement of each export with the
Keras model on the validation clips (every one of them by default) and the int8 file's size
(freeze_graph.py would refuse an int8 file below 97% agreement; here every figure is shown). A finished run is reused
when its settings and training code are today's, an export when it is newer than the run's checkpoint
and made by today's export code.

Writes `RUN_DIR/<model>/` (run folders), `RUN_DIR/tf_files/<model>_<mode>*` and `RUN_DIR/int8_zoo.json`;
prints a table with the validation accuracy, each export's agreement and bytes, and the ratio
of the int8 file's size to the float TFLite's.
"""

import argparse
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from kws import cli
from kws.models import model as model_zoo
import real_speech
from kws import runs

MODES = ("dynamic", "full")


def train_args(args, name):
    minutes = dict(args.budget).get(name, args.budget_minutes)
    return lambda seed: ["--experiment", "303", "--data_dir", args.real_train, "--model", name,
                         "--max_minutes", minutes]


def _model_minutes(text):
    name, _, minutes = text.partition("=")
    if name not in model_zoo.MODELS or not minutes:
        raise argparse.ArgumentTypeError(f"expected MODEL=MINUTES with a model of {list(model_zoo.MODELS)}, "
                                         f"got {text!r}")
    return name, float(minutes)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", required=True, help="folder for the runs, exports and the report")
    parser.add_argument("--models", nargs="+", default=list(model_zoo.MODELS), choices=list(model_zoo.MODELS),
                        help="models to train and export (default: the whole zoo)")
    parser.add_argument("--budget_minutes", type=float, default=8.0, help="training budget per model (default: 8)")
    parser.add_argument("--budget", nargs="+", type=_model_minutes, default=[("raw_large", 20.0), ("bc_resnet", 15.0),
                                                                                ("conv", 15.0)],
                        help="MODEL=MINUTES budgets of the slow models (default: raw_large=20 bc_resnet=15 conv=15; "
                             "they train at ~75 samples/s on 2 cores)")
    parser.add_argument("--check_clips", type=int, default=366,
                        help="validation clips each export is compared on (default: 366, all of the shared set)")
    parser.add_argument("--real_train", default=os.path.join(real_speech.SHARED, "speech_commands_real"),
                        help="real training data with list files (default: ../shared/data/speech_commands_real)")
    parser.add_argument("--train_args", nargs=argparse.REMAINDER, default=[],
                        help="more train.py arguments for every run (last; e.g. --epochs 1 for a smoke test)")
    parser.add_argument("--retrain", action="store_true", help="retrain and re-export everything")
    args = parser.parse_args(argv)
    args.run_dir, args.real_train = os.path.abspath(args.run_dir), os.path.abspath(args.real_train)
    return args


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isdir(args.real_train):
        raise cli.UserError(f"{args.real_train}: not found (the team's shared real data; see --real_train)")
    report = {"budget_minutes": {name: dict(args.budget).get(name, args.budget_minutes) for name in args.models},
              "models": {}}
    for name in args.models:
        run_dir = os.path.join(args.run_dir, name)
        metrics = real_speech.train(run_dir, train_args(args, name), 0, args.retrain, args.train_args)
        row = {"val_accuracy": metrics["best_val_accuracy"], "minutes": metrics["train_seconds"] / 60}
        for mode in MODES:
            exported = real_speech.export(run_dir, os.path.join(args.run_dir, "tf_files", f"{name}_{mode}"), args.retrain,
                                           "--int8_mode", mode, "--check_clips", args.check_clips)
            row["check_clips"] = exported["check_clips"]
            row["tflite_bytes"] = exported["exports"]["tflite"]["bytes"]
            row[mode] = {key: exported["exports"]["int8"][key] for key in ("agreement", "bytes")}
        report["models"][name] = row
        runs.write_json(os.path.join(args.run_dir, "int8_zoo.json"), report)
    print(format_report(report))
    return report


def format_report(report):
    lines = ["int8 exports of the zoo trained on real speech (minutes: the training time of each); top-1 agreement "
             "with the Keras model on the validation clips (freeze_graph.py fails below 97%)",
             f"{'model':<18}{'minutes':>8}{'val acc':>9}{'clips':>7}{'dynamic':>10}{'full':>8}"
             f"{'float bytes':>13}{'int8 bytes':>12}{'int8/float':>12}"]
    for name, row in report["models"].items():
        lines.append(f"{name:<18}{row['minutes']:>8.1f}{row['val_accuracy']:>9.4f}{row['check_clips']:>7}"
                     f"{row['dynamic']['agreement']:>10.2%}{row['full']['agreement']:>8.2%}"
                     f"{row['tflite_bytes']:>13,}{row['dynamic']['bytes']:>12,}"
                     f"{row['dynamic']['bytes'] / row['tflite_bytes']:>11.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    cli.run(main)
