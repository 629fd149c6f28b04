"""The Raspberry Pi path of a `pi` model: export sizes, the per-clip time split, float vs int8 latency.

    python benchmarks/bench_rpi.py [--run_dir runs/N] [--width 1.0] [--clips 300] [--test_dir DIR] [--threads 1]

Freezes a run with freeze_graph.py (or, without `--run_dir`, an untrained `pi` model of `--width`
in a temporary run folder: sizes and speed do not depend on training), into a temporary folder, then
- compares the .pb and TFLite sizes with the prize's 5,000,000-byte budget and the int8 file with
  the 1,300,000-byte target (int8 weights of a ~1.2 M-parameter model plus the graph);
- runs make_submission_on_rpi.py's per-clip loop (read the WAV, classify, journal the row) on
  `--clips` test clips with each export, and prints the time per clip inside the interpreter and
  outside it (the script's own overhead must stay below 20% of the per-clip time; the clips are read
  once before, so the figure is the script's CPU time, not the storage's);
- times each export with benchmark_model.py (batch 1, `--threads`) and prints the float/int8
  latency ratio, measured in the same run, and the Pi 3 estimates.
Test clips: `--test_dir`, else ../shared/data/speech_commands_real_test/audio, else generated tones.
Data for calibration: the run's data folders, else ../shared/data/speech_commands_real, else tones.
Writes only temporary files; the report goes to stdout.
"""

import argparse
import contextlib
import io
import logging
import os
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np

from kws.data import audio
from kws.export import benchmark_model
from kws import cli
from kws.export import freeze_graph
from kws.data import labels
from kws.export import make_submission_on_rpi as rpi
from kws.export import runtime
from kws.models import model
from kws import runs

SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")
INT8_TARGET_BYTES = 1_300_000
SPLIT_LIMIT = 0.20  # the share of the per-clip time allowed outside the interpreter


def write_tones(folder, count, seed):
    """`count` one-second tone clips (when no real test clips are around)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(audio.CLIP_SAMPLES) / audio.SAMPLE_RATE
    for i in range(count):
        clip = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 4000) * t) + 0.02 * rng.standard_normal(len(t))
        audio.write_wav(os.path.join(folder, f"clip_{i:05d}.wav"), clip)
    return folder


def tone_dataset(root, seed):
    """A tiny dataset in the tarball layout (words as folders, a validation list)."""
    for word in labels.COMMAND_WORDS[:4]:
        write_tones(os.path.join(root, word), 12, seed)
    with open(os.path.join(root, "validation_list.txt"), "w") as f:
        f.write("".join(f"{w}/clip_0000{i}.wav\n" for w in labels.COMMAND_WORDS[:4] for i in range(3)))
    return root


def untrained_run(root, width, seed):
    """A run folder of an untrained `pi` model (12 classes) that freeze_graph.py accepts."""
    real_train = os.path.join(SHARED_DATA, "speech_commands_real")
    data_dir = real_train if os.path.isdir(real_train) else tone_dataset(os.path.join(root, "data"), seed)
    run_dir = os.path.join(root, "pi_untrained")
    os.makedirs(run_dir)
    model_labels = labels.model_labels(labels.COMMAND_WORDS)
    model.build_model("pi", len(model_labels), width=width).save(os.path.join(run_dir, runs.BEST_CHECKPOINT))
    labels.write_labels(os.path.join(run_dir, runs.LABELS_FILE), model_labels)
    runs.write_json(os.path.join(run_dir, runs.CONFIG_FILE),
                    {"name": "pi_untrained", "seed": seed, "model": {"name": "pi", "params": {"width": width}},
                     "data": {"data_dir": [data_dir]}, "train": {}, "labels": model_labels})
    return run_dir


def time_split(model_path, test_dir, clips, threads, journal_path):
    """make_submission_on_rpi.py's per-clip loop on `clips` clips: (total, interpreter) seconds per clip."""
    runner = runtime.load_model(model_path, threads)
    model_labels = runtime.read_model_labels(runtime.default_labels_path(model_path), runner.num_classes)
    wavs = rpi.list_test_wavs(test_dir)
    todo = sorted(wavs)[:clips]
    for fname in todo:  # into the OS page cache: the split measures the script, not the storage
        with open(wavs[fname], "rb") as f:
            f.read()
    runner.predict(np.zeros(audio.CLIP_SAMPLES, np.float32), None, False)  # warm-up outside the timing
    with open(journal_path, "wb") as journal:
        total_s, inside_s, _ = rpi.classify_clips(runner, model_labels, todo, wavs, journal, {})
    return np.array(total_s), np.array(inside_s)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", default=None, help="a trained run to freeze (default: an untrained pi model)")
    parser.add_argument("--width", type=float, default=1.0, help="pi model width without --run_dir (default: 1.0)")
    parser.add_argument("--clips", type=int, default=300, help="test clips for the time split (default: 300)")
    parser.add_argument("--test_dir", default=None, help="folder of test WAVs (default: the shared real test clips)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    parser.add_argument("--runs", type=int, default=100, help="benchmark_model runs per export (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of generated clips (default: 0)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench_rpi_") as tmp:
        run_dir = args.run_dir or untrained_run(tmp, args.width, args.seed)
        real_test = os.path.join(SHARED_DATA, "speech_commands_real_test", "audio")
        test_dir = args.test_dir or (real_test if os.path.isdir(real_test)
                                     else write_tones(os.path.join(tmp, "test"), args.clips, args.seed))
        freeze_report = io.StringIO()
        with contextlib.redirect_stdout(freeze_report):
            paths = freeze_graph.main(["--run_dir", run_dir, "--out", os.path.join(tmp, "tf_files", "pi"),
                                       "--calibration_clips", "200", "--check_clips", "200"])
        print(f"model: {run_dir if args.run_dir else f'untrained pi, width {args.width}'}; test clips: {test_dir}")
        print("\nfreeze_graph.py:\n" + freeze_report.getvalue().rsplit("wrote", 1)[0].rstrip())

        print("\nsizes")
        for kind, budget, what in (("pb", benchmark_model.BUDGET_BYTES, "prize budget"),
                                   ("tflite", benchmark_model.BUDGET_BYTES, "prize budget"),
                                   ("int8", INT8_TARGET_BYTES, "int8 target")):
            size = os.path.getsize(paths[kind])
            print(f"  {os.path.basename(paths[kind]):<18}{size:>12,} bytes  = {size / budget:6.1%} of the "
                  f"{budget:,}-byte {what}  ({'ok' if size < budget else 'OVER'})")

        print(f"\nmake_submission_on_rpi.py per-clip time ({args.threads} thread(s), ms)")
        print(f"  {'export':<18}{'clips':>6}{'total':>16}{'interpreter':>16}{'outside':>16}"
              f"{'outside share':>16}")
        print(f"  {'':<24}{'mean / median':>16}{'mean / median':>16}{'mean / median':>16}{'of mean / median':>18}")
        for kind in ("int8", "tflite", "pb"):
            total_s, inside_s = time_split(paths[kind], test_dir, args.clips, args.threads,
                                           os.path.join(tmp, f"{kind}.partial"))
            figures = [f"{x.mean() * 1e3:7.3f} /{np.median(x) * 1e3:7.3f}" for x in (total_s, inside_s, total_s - inside_s)]
            share_of_mean = 1.0 - inside_s.sum() / total_s.sum()
            share_of_median = 1.0 - np.median(inside_s) / np.median(total_s)
            print(f"  {os.path.basename(paths[kind]):<18}{len(total_s):>6}" + "".join(f"{f:>16}" for f in figures)
                  + f"{share_of_mean:>9.1%} /{share_of_median:5.1%}"
                  f"  {'ok' if share_of_mean <= SPLIT_LIMIT else 'OVER'} (limit {SPLIT_LIMIT:.0%})")

        print(f"\nbenchmark_model.py ({args.threads} thread(s), {args.runs} runs)")
        reports = {kind: benchmark_model.benchmark(paths[kind], runs=args.runs, warmup=10, threads=(args.threads,))
                   for kind in ("pb", "tflite", "int8")}
        for kind, report in reports.items():
            figures = report["latency"][str(args.threads)]
            print(f"  {os.path.basename(paths[kind]):<18}median {figures['median_ms']:7.3f} ms  p90 "
                  f"{figures['p90_ms']:7.3f} ms  params {report['parameters']:>10,}  MACs {report['macs']:>12,}  "
                  f"Pi 3 estimate {report['pi3_estimate_ms']:5.1f} ms")
        ratio = (reports["tflite"]["latency"][str(args.threads)]["median_ms"]
                 / reports["int8"]["latency"][str(args.threads)]["median_ms"])
        print(f"  float32 / int8 TFLite latency: {ratio:.2f}x (this machine)")
        print(f"  Pi 3 estimates: {runtime.PI3_ASSUMPTION}")


if __name__ == "__main__":
    cli.run(main)
