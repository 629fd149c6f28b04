"""Accuracy on real speech: the recommended recipe against two baselines with the same budget.

    python benchmarks/real_speech.py --run_dir runs/real_speech [--budget_minutes 15]
        [--experiment 300] [--synth_dir data/synth] [--real_train ../shared/data/speech_commands_real]
        [--real_test ../shared/data/speech_commands_real_test] [--only recipe]

Trains, one after the other, each within `--budget_minutes` on this machine:
  recipe      experiments/300_real_speech.toml: the real training split, with the synthetic corpus's
              training clips mixed into 30% of the training slots (train/training_clips.csv);
  real_only   the same settings without the synthetic clips;
  synth_only  the same settings on the synthetic corpus alone (its own validation list).
Each run selects its checkpoint on its validation list, never on the test. Then each best
checkpoint makes a submission for the real test folder (real speakers never seen in training;
12 Kaggle labels) and is scored against its solution.csv, without and with test-time augmentation
(shift left 1,500 samples + louder x1.2, the winning entry's "leftloud").

Writes `RUN_DIR/<name>/` (run folders), `RUN_DIR/<name>_test*.csv` (submissions) and
`RUN_DIR/real_speech.json`; prints a table with each accuracy and its ratio to the real-only
baseline. The synthetic corpus is generated first when `--synth_dir` has none (seed 1).
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import runs  # noqa: E402  (after the path set-up)
import score_submission  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
TTA = ["--tta_shift_samples", "1500", "--tta_louder", "1.2"]


def python(script, *args):
    """Runs one of the project's scripts; a failure stops the benchmark."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ}
    subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, args)], cwd=ROOT, env=env, check=True)


def ensure_synthetic_corpus(synth_dir):
    """The corpus with its training_clips.csv, generated when missing."""
    clips_csv = os.path.join(synth_dir, "train", "training_clips.csv")
    if not os.path.isfile(clips_csv):
        python("make_synthetic_dataset.py", "--out", synth_dir, "--seed", 1, "--overwrite")
    return clips_csv


def variants(args, clips_csv):
    """name -> train.py arguments of the recipe and its two baselines."""
    common = ["--experiment", args.experiment, "--max_minutes", args.budget_minutes, "--overwrite"]
    return {
        "recipe": common + ["--data_dir", args.real_train, "--pseudo_labels", clips_csv],
        "real_only": common + ["--data_dir", args.real_train, "--pseudo_labels", ""],
        "synth_only": common + ["--data_dir", os.path.join(args.synth_dir, "train"), "--pseudo_labels", ""],
    }


def score_run(run_dir, test_dir, out_prefix):
    """Real-test accuracy of a run's best checkpoint, without and with TTA."""
    solution = os.path.join(test_dir, "solution.csv")
    scores = {}
    for name, extra in (("plain", []), ("tta", TTA)):
        submission = f"{out_prefix}_{name}.csv"
        python("make_submission.py", "--run_dir", run_dir, "--test_dir", os.path.join(test_dir, "audio"),
               "--out", submission, "--no_progress", *extra)
        scores[name] = score_submission.score_files(solution, submission)["accuracy"]
    return scores


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", required=True, help="folder for the three runs and the report")
    parser.add_argument("--budget_minutes", type=float, default=15.0,
                        help="training budget of each run, minutes (default: 15)")
    parser.add_argument("--experiment", default="300", help="the recipe's experiment (default: 300)")
    parser.add_argument("--synth_dir", default=os.path.join(ROOT, "data", "synth"),
                        help="synthetic corpus (default: data/synth; generated when missing)")
    parser.add_argument("--real_train", default=os.path.join(SHARED, "speech_commands_real"),
                        help="real training data with list files (default: ../shared/data/speech_commands_real)")
    parser.add_argument("--real_test", default=os.path.join(SHARED, "speech_commands_real_test"),
                        help="real test folder: audio/ and solution.csv (default: ../shared/data/...real_test)")
    parser.add_argument("--only", nargs="+", choices=("recipe", "real_only", "synth_only"),
                        help="train and score only these (default: all three)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for folder in (args.real_train, args.real_test):
        if not os.path.isdir(folder):
            sys.exit(f"real_speech: {folder} not found (the team's shared real data; see --real_train/--real_test)")
    os.makedirs(args.run_dir, exist_ok=True)
    clips_csv = ensure_synthetic_corpus(args.synth_dir)
    report = {"budget_minutes": args.budget_minutes, "experiment": args.experiment, "runs": {}}
    for name, train_args in variants(args, clips_csv).items():
        if args.only and name not in args.only:
            continue
        run_dir = os.path.join(args.run_dir, name)
        started = time.perf_counter()
        python("train.py", *train_args, "--run_dir", run_dir)
        minutes = (time.perf_counter() - started) / 60
        metrics = runs.read_json(os.path.join(run_dir, runs.METRICS_FILE))
        report["runs"][name] = {"minutes": minutes, "val_accuracy": metrics["best_val_accuracy"],
                                "test": score_run(run_dir, args.real_test, os.path.join(args.run_dir, f"{name}_test"))}
        runs.write_json(os.path.join(args.run_dir, "real_speech.json"), report)
    print(format_report(report))
    return report


def format_report(report):
    """The table: validation and real-test accuracy of each run, and the ratio to real_only."""
    baseline = report["runs"].get("real_only", {}).get("test", {}).get("plain")
    lines = [f"real-speech benchmark: budget {report['budget_minutes']:g} min per run, experiment "
             f"{report['experiment']}",
             f"{'run':<12}{'minutes':>9}{'val acc':>9}{'real test':>11}{'with TTA':>10}{'vs real_only':>14}"]
    for name, run in report["runs"].items():
        ratio = f"{run['test']['plain'] / baseline:.3f}x" if baseline else "-"
        lines.append(f"{name:<12}{run['minutes']:>9.1f}{run['val_accuracy']:>9.4f}{run['test']['plain']:>11.4f}"
                     f"{run['test']['tta']:>10.4f}{ratio:>14}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
