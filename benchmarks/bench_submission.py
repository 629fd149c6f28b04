r"""Speed of make_submission.py: clips/s, and whether reading the wavs or the model sets the pace.

    python benchmarks/bench_submission.py [--clips 2000] [--batch_size 256] [--model pi] \
        [--read_workers 2] [--repeats 3]

Generates `--clips` one-second 16-bit wavs (random noise) in a temporary folder and a run folder
holding an untrained `--model` (speed does not depend on the weights), then measures, each with
and without TTA (`--tta_shift_samples 1500 --tta_louder`, 3 model passes per clip):

  read only      the reader threads alone (iter_batches, no model): the reading ceiling
  model only     predict_on_batch on batches already in memory: the model ceiling
  baseline       sequential read-then-predict, batch by batch, nothing overlapped
  make_submission  the real script run through main(), timed as it times itself: from the first
                 batch to the last prediction (thread-pool reading overlapped with the model, TTA
                 averaging); loading the model and writing the CSVs are left out, as in the baseline

The four settings alternate `--repeats` times and the fastest time of each counts (the CPU is
often shared with other work). Printed: clips/s, the ratio against the baseline of the same run,
and make_submission's own time split (model time, reader-thread time, time the model waited for
clips). Reading is not the bottleneck when make_submission's clips/s is close to "model only" and
its wait time is small. Writes only into a temporary folder that is removed afterwards.
"""

import argparse
import contextlib
import io
import logging
import os
import tempfile
import time


import keras
import numpy as np

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels
from kws.submit import make_submission
from kws.submit import tta as tta_module
from kws.models import model
from kws import runs

TTA_FLAGS = ["--tta_shift_samples", "1500", "--tta_louder"]


def make_clips(folder, count, seed):
    """`count` one-second noise wavs named like the Kaggle test clips."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        samples = rng.normal(0, 0.1, audio.CLIP_SAMPLES).astype(np.float32)
        audio.write_wav(os.path.join(folder, f"clip_{i:08x}.wav"), samples)


def make_run(folder, model_name, seed):
    """A run folder with an untrained model and the 12 Kaggle-task labels."""
    run_labels = labels.model_labels(labels.COMMAND_WORDS)
    keras.utils.set_random_seed(seed)
    built = model.build_model(model_name, len(run_labels))
    os.makedirs(folder)
    built.save(os.path.join(folder, runs.BEST_CHECKPOINT))
    labels.write_labels(os.path.join(folder, runs.LABELS_FILE), run_labels)
    runs.write_json(os.path.join(folder, runs.CONFIG_FILE),
                    {"name": "bench", "seed": seed, "labels": run_labels, "model": {"name": model_name, "params": {}}})
    return built


def time_read_only(paths, variants, args):
    started = time.perf_counter()
    for _ in make_submission.iter_batches(paths, args.batch_size, variants, args.read_workers):
        pass
    return time.perf_counter() - started


def time_model_only(net, paths, variants, args):
    batch = np.random.default_rng(0).normal(0, 0.1, (args.batch_size, audio.CLIP_SAMPLES)).astype(np.float32)
    net.predict_on_batch(batch)  # tracing outside the timing
    started = time.perf_counter()
    for start in range(0, len(paths), args.batch_size):
        for _ in variants:
            net.predict_on_batch(batch)  # full batches: make_submission pads the last one too
    return time.perf_counter() - started


def time_baseline(run_dir, paths, variants, args):
    """Sequential: read a batch in this thread, then predict it; no overlap.

    A freshly loaded model, as make_submission uses, so both pay the same tracing.
    """
    net, _, _ = runs.load_run(run_dir)
    started = time.perf_counter()
    for start in range(0, len(paths), args.batch_size):
        batch = make_submission.read_batch(paths[start:start + args.batch_size], variants)
        tta_module.predict_variants(net, batch.x, args.batch_size)
    return time.perf_counter() - started


def time_make_submission(run_dir, test_dir, out, tta, args):
    argv = ["--run_dir", run_dir, "--test_dir", test_dir, "--out", out, "--batch_size", str(args.batch_size),
            "--read_workers", str(args.read_workers), "--no_progress", "--overwrite"] + (TTA_FLAGS if tta else [])
    with contextlib.redirect_stdout(io.StringIO()):
        result = make_submission.main(argv)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2000, help="generated test clips (default: 2000)")
    parser.add_argument("--batch_size", type=int, default=256, help="clips per model call (default: 256)")
    parser.add_argument("--model", default="pi", choices=sorted(model.MODELS), help="model to time (default: pi)")
    parser.add_argument("--read_workers", type=int, default=2, help="make_submission reader threads (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise clips and the weights (default: 0)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of the baseline and of make_submission, alternated; the fastest counts "
                             "(other processes share the CPU; default: 3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: this process loads many models
    with tempfile.TemporaryDirectory(prefix="bench_submission_") as tmp:
        test_dir, run_dir = os.path.join(tmp, "audio"), os.path.join(tmp, "run")
        os.makedirs(test_dir)
        make_clips(test_dir, args.clips, args.seed)
        net = make_run(run_dir, args.model, args.seed)
        paths = list(corpus.list_test_wavs(test_dir).values())
        print(f"{args.clips} clips, model {args.model}, batch {args.batch_size}, {args.read_workers} reader threads, "
              f"{os.cpu_count()} CPUs")
        print(f"{'setting':<34}{'clips/s':>10}{'vs baseline':>13}")
        for tta in (False, True):
            variants = tta_module.leftloud_variants() if tta else tta_module.tta_variants()
            name = "TTA x3" if tta else "no TTA"
            times = {"read": [], "model": [], "baseline": [], "make_submission": []}
            results = []
            for _ in range(args.repeats):  # alternated, so a burst of load hits every setting alike
                times["read"].append(time_read_only(paths, variants, args))
                times["model"].append(time_model_only(net, paths, variants, args))
                times["baseline"].append(time_baseline(run_dir, paths, variants, args))
                results.append(time_make_submission(run_dir, test_dir, os.path.join(tmp, "sub.csv"), tta, args))
                times["make_submission"].append(results[-1]["seconds"])
            result = min(results, key=lambda r: r["seconds"])
            baseline = min(times["baseline"])
            rows = [("read only (threads, no model)", min(times["read"])),
                    ("model only (clips in memory)", min(times["model"])),
                    ("baseline: read, then predict", baseline),
                    ("make_submission (overlapped)", result["seconds"])]
            for label, seconds in rows:
                print(f"{name + ': ' + label:<34}{args.clips / seconds:>10.0f}{baseline / seconds:>12.2f}x")
            print(f"  make_submission split: model {result['model_seconds']:.2f} s, reading "
                  f"{result['read_seconds']:.2f} s (in threads, overlapped), model waiting for clips "
                  f"{result['wait_seconds']:.2f} s of {result['seconds']:.2f} s")


if __name__ == "__main__":
    cli.run(main)
