"""Accuracy on real speech: the recommended recipe against two baselines with the same budget.

    python benchmarks/real_speech.py --run_dir runs/real_speech [--seeds 0 1 2] [--budget_minutes 15]
        [--experiment 301] [--baseline_experiment 300] [--synth_dir data/synth]
        [--real_train ../shared/data/speech_commands_real]
        [--real_test ../shared/data/speech_commands_real_test] [--only real_only] [--retrain]
        [--train_args ARG ...]

Trains, one after the other, once per seed, each run within `--budget_minutes` on this machine:
  synth_only  experiments/300_real_speech.toml on the synthetic corpus alone (its own validation
              list), from random weights;
  real_only   the same settings on the real training split alone;
  recipe      experiments/301_real_speech_finetune.toml: synth_only's run of the same seed,
              fine-tuned on the real training split with the synthetic corpus's training clips
              mixed into 30% of the slots (train/training_clips.csv). Its time includes the
              pre-training, so the recipe spends the most; it stays within one hour for three seeds.
Each run selects its checkpoint on its validation list, never on the test. Then each best
checkpoint makes a submission for the real test folder (real speakers never seen in training;
12 Kaggle labels) and is scored against its solution.csv, without and with test-time augmentation
(shift left 1,500 samples + louder x1.2, the winning entry's "leftloud"); finally the seeds' TTA
probabilities are averaged (ensemble.py) into the submission the recipe recommends. The
baselines get the same seeds.

Writes `RUN_DIR/<name>/seed<k>/` (run folders), `RUN_DIR/<name>/test_seed<k>_{plain,tta}*.csv`
and `RUN_DIR/<name>/test_ensemble*.csv` (submissions), and `RUN_DIR/real_speech.json`; prints a
table with each accuracy and the ensemble's ratio to the real-only baseline's. A finished run is
reused only when it was made with the same settings and training code (its config.json; see
`train.finished_run_differs`), so an interrupted benchmark continues; `--retrain` starts over.
The synthetic corpus is generated first when `--synth_dir` has none (seed 1).
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from kws import cli
from kws.submit import ensemble
from kws import runs
from kws.submit import score_submission
from kws.training import train as train_script

SHARED = os.path.join(ROOT, "..", "shared", "data")
TTA = ["--tta_shift_samples", "1500", "--tta_louder", "1.2"]


def python(script, *args, capture=False):
    """Runs one of the project's scripts (returns its stdout with `capture`); a failure stops the benchmark."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ}
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, args)], cwd=ROOT, env=env,
                            check=True, text=True, stdout=subprocess.PIPE if capture else None)
    return result.stdout


def ensure_synthetic_corpus(synth_dir):
    """The corpus with its training_clips.csv, generated when missing."""
    clips_csv = os.path.join(synth_dir, "train", "training_clips.csv")
    if not os.path.isfile(clips_csv):
        python("make_synthetic_dataset.py", "--out", synth_dir, "--seed", 1, "--overwrite")
    return clips_csv


def variants(args, clips_csv):
    """name -> (function of the seed giving train.py's arguments, variant it starts from), in training order."""
    budget = ["--max_minutes", args.budget_minutes]
    baseline = ["--experiment", args.baseline_experiment, *budget, "--pseudo_labels", ""]
    synth_runs = os.path.join(args.run_dir, "synth_only")
    return {
        "synth_only": (lambda seed: [*baseline, "--data_dir", os.path.join(args.synth_dir, "train")], None),
        "real_only": (lambda seed: [*baseline, "--data_dir", args.real_train], None),
        "recipe": (lambda seed: ["--experiment", args.experiment, *budget, "--data_dir", args.real_train,
                                 "--pseudo_labels", clips_csv, "--init_from", os.path.join(synth_runs, f"seed{seed}")],
                   "synth_only"),
    }


def train(run_dir, train_args, seed, retrain, extra=()):
    """Trains one seed (train.py arguments `train_args(seed)` and `extra`) unless the run folder holds a
    finished run of the same settings and training code (train.finished_run_differs); returns its
    metrics.json."""
    argv = [*map(str, [*train_args(seed), *extra]), "--seed", str(seed), "--run_dir", run_dir, "--overwrite"]
    why = "--retrain" if retrain else train_script.finished_run_differs(argv)
    if why:
        print(f"training {run_dir} ({why})", flush=True)
        python("train.py", *argv)
    return runs.read_json(os.path.join(run_dir, runs.METRICS_FILE))


def submit(run_dir, test_dir, out_prefix, retrain, variants=("plain", "tta")):
    """Submissions of a run's best checkpoint for `test_dir` (a test folder with audio/, or the folder of
    WAVs), without and/or with TTA; name -> probs path. One older than the checkpoint is made again."""
    checkpoint_time = os.path.getmtime(os.path.join(run_dir, runs.BEST_CHECKPOINT))
    paths = {}
    for name, extra in (("plain", []), ("tta", TTA)):
        if name not in variants:
            continue
        submission = f"{out_prefix}_{name}.csv"
        paths[name] = submission.replace(".csv", "_probs.csv")
        if retrain or not os.path.isfile(paths[name]) or os.path.getmtime(paths[name]) < checkpoint_time:
            python("make_submission.py", "--run_dir", run_dir, "--test_dir", test_dir, "--out", submission,
                   "--no_progress", "--overwrite", *extra)
    return paths


def export(run_dir, prefix, retrain, *flags):
    """freeze_graph.py's report of a run exported to `prefix` with `flags`, exported again when the
    files are older than the checkpoint or were made by other export code (runs.EXPORT_CODE). A
    benchmark shows every figure: an int8 file below freeze_graph's gate is written and reported."""
    path = f"{prefix}_report.json"
    report = None if retrain or not os.path.isfile(path) or \
        os.path.getmtime(path) < os.path.getmtime(os.path.join(run_dir, runs.BEST_CHECKPOINT)) else runs.read_json(path)
    if report is None or report.get("code") != runs.code_fingerprint(runs.EXPORT_CODE):
        python("freeze_graph.py", "--run_dir", run_dir, "--out", prefix, *flags, "--allow_int8_disagreement",
               "--overwrite")
        report = runs.read_json(path)
    return report


def accuracy(solution, submission):
    return score_submission.score_files(solution, submission)["accuracy"]


def run_variant(folder, train_args, args):
    """All seeds of one variant, scored one by one and as the ensemble of their TTA probabilities."""
    solution = os.path.join(args.real_test, "solution.csv")
    result = {"minutes": 0.0, "seeds": {}}
    tta_probs = []
    for seed in args.seeds:
        run_dir = os.path.join(folder, f"seed{seed}")
        metrics = train(run_dir, train_args, seed, args.retrain, args.train_args)
        probs = submit(run_dir, args.real_test, os.path.join(folder, f"test_seed{seed}"), args.retrain)
        tta_probs.append(probs["tta"])
        result["minutes"] += metrics["train_seconds"] / 60
        result["seeds"][seed] = {"val_accuracy": metrics["best_val_accuracy"],
                                 **{name: accuracy(solution, path.replace("_probs.csv", ".csv"))
                                    for name, path in probs.items()}}
    prefix = os.path.join(folder, "test_ensemble")
    ensemble.ensemble(tta_probs, [1.0] * len(tta_probs), prefix, overwrite=True)
    result["ensemble"] = accuracy(solution, prefix + ".csv")
    for key in ("val_accuracy", "plain", "tta"):
        result[key] = sum(s[key] for s in result["seeds"].values()) / len(result["seeds"])
    return result


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", required=True, help="folder for the run folders, submissions and the report")
    parser.add_argument("--budget_minutes", type=float, default=15.0,
                        help="training budget of each run, minutes (default: 15)")
    parser.add_argument("--experiment", default="301", help="the recipe's experiment (default: 301)")
    parser.add_argument("--baseline_experiment", default="300",
                        help="the baselines' experiment, also the recipe's pre-training (default: 300)")
    parser.add_argument("--synth_dir", default=os.path.join(ROOT, "data", "synth"),
                        help="synthetic corpus (default: data/synth; generated when missing)")
    parser.add_argument("--real_train", default=os.path.join(SHARED, "speech_commands_real"),
                        help="real training data with list files (default: ../shared/data/speech_commands_real)")
    parser.add_argument("--real_test", default=os.path.join(SHARED, "speech_commands_real_test"),
                        help="real test folder: audio/ and solution.csv (default: ../shared/data/...real_test)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="seeds of each variant; their TTA probabilities are averaged (default: 0 1 2)")
    parser.add_argument("--only", nargs="+", choices=("recipe", "real_only", "synth_only"),
                        help="train and score only these (default: all three; recipe needs synth_only's runs)")
    parser.add_argument("--retrain", action="store_true",
                        help="retrain and resubmit finished runs instead of reusing them")
    parser.add_argument("--train_args", nargs=argparse.REMAINDER, default=[],
                        help="more train.py arguments for every run (last; e.g. --epochs 1 for a smoke test)")
    args = parser.parse_args(argv)
    for name in ("run_dir", "synth_dir", "real_train", "real_test"):  # the scripts run in the project folder
        setattr(args, name, os.path.abspath(getattr(args, name)))
    return args


def main(argv=None):
    args = parse_args(argv)
    for folder in (args.real_train, args.real_test):
        if not os.path.isdir(folder):
            sys.exit(f"real_speech: {folder} not found (the team's shared real data; see --real_train/--real_test)")
    os.makedirs(args.run_dir, exist_ok=True)
    clips_csv = ensure_synthetic_corpus(args.synth_dir)
    report = {"budget_minutes": args.budget_minutes, "experiment": args.experiment,
              "baseline_experiment": args.baseline_experiment, "seeds": args.seeds, "runs": {}}
    chosen = variants(args, clips_csv)
    wanted = set(args.only or chosen)
    wanted |= {chosen[name][1] for name in wanted if chosen[name][1]}  # the recipe's pre-training
    for name, (train_args, starts_from) in chosen.items():
        if name not in wanted:
            continue
        result = run_variant(os.path.join(args.run_dir, name), train_args, args)
        if starts_from:
            result["minutes"] += report["runs"][starts_from]["minutes"]
        report["runs"][name] = result
        runs.write_json(os.path.join(args.run_dir, "real_speech.json"), report)
    print(format_report(report))
    return report


def format_report(report):
    """The table: mean accuracy over the seeds, the seeds' TTA ensemble, and its ratio to real_only's."""
    baseline = report["runs"].get("real_only", {}).get("ensemble")
    lines = [f"real-speech benchmark: recipe {report['experiment']}, baselines {report['baseline_experiment']}, "
             f"seeds {report['seeds']}, "
             f"budget {report['budget_minutes']:g} min per run; accuracy on the real test "
             "(mean over seeds; ensemble = mean of the seeds' TTA probabilities)",
             f"{'run':<12}{'minutes':>9}{'val acc':>9}{'test':>8}{'TTA':>8}{'ensemble':>10}{'vs real_only':>14}"]
    for name, run in report["runs"].items():
        ratio = f"{run['ensemble'] / baseline:.3f}x" if baseline else "-"
        lines.append(f"{name:<12}{run['minutes']:>9.1f}{run['val_accuracy']:>9.4f}{run['plain']:>8.4f}"
                     f"{run['tta']:>8.4f}{run['ensemble']:>10.4f}{ratio:>14}")
    return "\n".join(lines)


if __name__ == "__main__":
    cli.run(main)
