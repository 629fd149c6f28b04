"""The main job end to end on the synthetic corpus: what `make demo` runs.

    python demo.py [--data_dir data/synth] [--experiment 000] [--seed 1] [--work_dir .]

Stages, each the command a user would type (printed before it runs, its own progress shown):
 1. make_synthetic_dataset.py  -> data/synth/          (skipped when data/synth/corpus.json exists)
 2. train.py --experiment 000  -> runs/000_demo/       (resumed if an earlier demo was interrupted)
 3. make_submission.py + TTA   -> submissions/000_demo.csv, _all_labels.csv, _probs.csv
 4. convert_probs.py           -> submissions/000_demo_kaggle.{csv,uint8.memmap,json}
 5. score_submission.py        -> accuracy of the submission against data/synth/test/solution.csv
 6. freeze_graph.py            -> tf_files/000_demo.pb, .tflite, _int8.tflite, _labels.txt, _report.json
 7. make_submission_on_rpi.py  -> submissions/000_demo_rpi.csv (int8 TFLite, batch 1), then scored
 8. benchmark_model.py         -> size, multiply-adds, latency and peak memory of the int8 model
Then a summary table: accuracy of each submission, the int8 model's top-1 agreement with the
Keras model (freeze_graph.py's check), model sizes, latency, and time per stage
(also written to submissions/000_demo_summary.json). `--work_dir W` puts runs/, submissions/ and
tf_files/ in W instead of the project folder (a smoke test runs the whole demo in a temporary
folder with a tiny experiment file: `--experiment path/to/file.toml`).

The two long stages are skipped when their result is complete: the corpus when
`data/synth/corpus.json` exists, training when the run folder holds `metrics.json` (an interrupted
training is resumed). The later stages take a minute and run again each time, replacing the
demo's own outputs of an earlier demo (they are passed `--overwrite`); `make clean-demo` starts
over. A failed stage stops the demo with that stage's exit status (2 for a user error, whose
`error: ...` line the stage printed).
"""

import argparse
import json
import os
import subprocess
import sys
import time

from kws import runs
from kws.export import runtime

ROOT = runs.PROJECT_DIR  # the scripts and experiments/


def run_stage(title, script, args, capture=False):
    """Runs `python script args` in the project folder; returns (stdout or None, seconds)."""
    command = [sys.executable, os.path.join(ROOT, script), *map(str, args)]
    print(f"\n=== {title}\n$ python {script} {' '.join(map(str, args))}", flush=True)
    started = time.perf_counter()
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ}  # TensorFlow's start-up chatter hides the progress
    result = subprocess.run(command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        print(f"demo: stage '{title}' failed (exit code {result.returncode}); fix it and run again "
              "(finished stages are skipped)", file=sys.stderr)
        sys.exit(result.returncode)
    return result.stdout, time.perf_counter() - started


def score(solution, submission):
    """Accuracy of a submission CSV against solution.csv (score_submission.py --json)."""
    output, seconds = run_stage(f"score {os.path.basename(submission)}", "score_submission.py",
                                ["--solution", solution, "--submission", submission, "--json"], capture=True)
    report = json.loads(output)
    print(f"accuracy {report['accuracy']:.4f} over {report['rows']} clips")
    return report["accuracy"], seconds


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default="data/synth", help="synthetic corpus folder (default: data/synth)")
    parser.add_argument("--experiment", default="000", help="experiment number to train (default: 000, the demo)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the corpus (default: 1)")
    parser.add_argument("--work_dir", default="",
                        help="folder of runs/, submissions/ and tf_files/ (default: the project folder)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    times, accuracy = {}, {}
    experiment_file = runs.find_experiment(os.path.join(ROOT, "experiments"), args.experiment)  # before any work
    test_audio = os.path.join(args.data_dir, "test", "audio")
    solution = os.path.join(args.data_dir, "test", "solution.csv")
    if os.path.isfile(os.path.join(ROOT, args.data_dir, "corpus.json")):
        print(f"=== corpus: {args.data_dir} exists, not regenerated")
    else:
        _, times["corpus"] = run_stage("generate the synthetic corpus", "make_synthetic_dataset.py",
                                       ["--out", args.data_dir, "--seed", args.seed, "--overwrite"])

    run_dir = os.path.join(args.work_dir, "runs", os.path.splitext(os.path.basename(experiment_file))[0])
    train_args = ["--experiment", args.experiment, "--data_dir", os.path.join(args.data_dir, "train"),
                  "--run_dir", run_dir]
    if os.path.isfile(os.path.join(ROOT, run_dir, runs.METRICS_FILE)):
        print(f"=== train: {run_dir} is finished, not retrained")
    else:
        resume = ["--resume"] if os.path.isdir(os.path.join(ROOT, run_dir)) else []
        _, times["train"] = run_stage("train", "train.py", train_args + resume)
    metrics = runs.read_json(os.path.join(ROOT, run_dir, runs.METRICS_FILE))

    name = os.path.basename(run_dir)
    submissions = os.path.join(args.work_dir, "submissions")
    submission = os.path.join(submissions, f"{name}.csv")
    _, times["submission (TTA)"] = run_stage(
        "submission with test-time augmentation", "make_submission.py",
        ["--run_dir", run_dir, "--test_dir", test_audio, "--out", submission,
         "--tta_shift_samples", 1500, "--tta_louder", "1.2", "--overwrite"])
    _, times["convert probs"] = run_stage("convert probabilities to the Kaggle order", "convert_probs.py",
                                          ["--probs", submission.replace(".csv", "_probs.csv"),
                                           "--out", os.path.join(submissions, f"{name}_kaggle"), "--overwrite"])
    accuracy["submission (Keras, TTA)"], times["score"] = score(solution, submission)

    prefix = os.path.join(args.work_dir, "tf_files", name)
    exports = runtime.export_paths(prefix)
    _, times["freeze"] = run_stage("freeze: GraphDef and TFLite", "freeze_graph.py",
                                   ["--run_dir", run_dir, "--out", prefix, "--overwrite"])
    rpi_submission = os.path.join(submissions, f"{name}_rpi.csv")
    _, times["Pi submission"] = run_stage("Raspberry Pi submission (int8 TFLite, batch 1)",
                                          "make_submission_on_rpi.py",
                                          ["--model", exports["int8"], "--test_data", test_audio,
                                           "--submission_fn", rpi_submission, "--restart", "--overwrite"])
    accuracy["Pi submission (int8 TFLite)"], _ = score(solution, rpi_submission)
    output, times["benchmark"] = run_stage("benchmark the int8 model", "benchmark_model.py",
                                           ["--model", exports["int8"], "--runs", 30, "--json"],
                                           capture=True)
    bench = json.loads(output)
    export = runs.read_json(os.path.join(ROOT, exports["report"]))
    summary = {"run_dir": run_dir, "validation_accuracy": metrics.get("best_val_accuracy"),
               "test_split_accuracy": metrics.get("test_accuracy"), "accuracy": accuracy,
               "int8_agreement": export["exports"]["int8"]["agreement"], "check_clips": export["check_clips"],
               "bytes": {exports[kind][len(prefix):]: os.path.getsize(os.path.join(ROOT, exports[kind]))
                         for kind in ("pb", "tflite", "int8")},  # keyed ".pb", ".tflite", "_int8.tflite"
               "int8_latency_ms": {k: v["median_ms"] for k, v in bench["latency"].items()},
               "pi3_estimate_ms": bench.get("pi3_estimate_ms"), "seconds": times}
    runs.write_json(os.path.join(ROOT, submissions, f"{name}_summary.json"), summary)
    print(format_summary(summary))
    return summary


def format_summary(summary):
    """The table printed at the end of the demo."""
    lines = ["", "=" * 64, f"demo summary ({summary['run_dir']})", "-" * 64,
             f"{'validation accuracy (training run)':<44}{summary['validation_accuracy']:>10.4f}",
             f"{'testing-split accuracy (training run)':<44}{summary['test_split_accuracy']:>10.4f}"]
    lines += [f"{'test accuracy, ' + name:<44}{value:>10.4f}" for name, value in summary["accuracy"].items()]
    agreement_name = f"int8 agreement with Keras ({summary['check_clips']} clips)"
    lines.append(f"{agreement_name:<44}{summary['int8_agreement']:>10.2%}")
    lines += [f"{'size ' + ext.lstrip('_') + ' (bytes)':<44}{size:>10,}" for ext, size in summary["bytes"].items()]
    lines += [f"{'int8 latency here, ' + threads + ' thread(s) (ms)':<44}{ms:>10.2f}"
              for threads, ms in summary["int8_latency_ms"].items()]
    if summary["pi3_estimate_ms"] is not None:
        lines.append(f"{'Raspberry Pi 3 estimate (ms)':<44}{summary['pi3_estimate_ms']:>10.1f}")
    lines.append("-" * 64)
    lines += [f"{'time: ' + stage + ' (s)':<44}{seconds:>10.1f}" for stage, seconds in summary["seconds"].items()]
    lines.append(f"{'time: total (s)':<44}{sum(summary['seconds'].values()):>10.1f}")
    return "\n".join(lines)

