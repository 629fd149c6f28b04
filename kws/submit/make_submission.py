r"""Predicts every clip of a test folder with a trained run; writes a submission and probabilities.

    python make_submission.py --run_dir runs/N --test_dir data/test/audio --out submissions/N.csv \
        [--checkpoint ep-012-va-0.9100.keras] [--tta_shift_samples 1500] [--tta_louder [1.2]] \
        [--tta_stretch 0.9] [--batch_size 256] [--read_workers 2] [--limit 100] [--overwrite]

Reads `runs/N` (config.json, labels.txt and best.keras, or `--checkpoint`: a file name inside the
run or a path) and every `*.wav` of `--test_dir`: the WAVs directly inside it, or inside its
`audio/` when it holds none (`corpus.list_test_wavs`, the rule of every script that reads a test
folder: `data/test` and `data/test/audio` give the same clips; sub-folders are not read). Any
number of clips: a thread pool reads and decodes the next batches (`audio.load_clip`: 16 kHz
mono, padded or cut at the end to the clip length of the run, its model's input: one second unless
the run's `clip_duration_ms` says otherwise) while the model predicts the current one, so only
`batch_size x (prefetch + 1)` clips are in memory at a time; a tqdm bar shows progress.

Test-time augmentation (TTA, tta.py): each flag adds variants of every clip; the model's probabilities
of the original clip and of all variants are averaged with equal weight.
  --tta_shift_samples N [N ...]  shift left by N samples (zeros enter at the end; N < 0 shifts right):
                                 tta.py's time shift -N (its convention: > 0 later)
  --tta_louder [FACTOR]          multiply by FACTOR (1.2 if given without a value), clipped to [-1, 1]
  --tta_stretch RATE [RATE ...]  librosa.effects.time_stretch of the clip (RATE > 1 is faster),
                                 then padded/cut to the clip length
(the winning entry's "leftloud" TTA is `--tta_shift_samples 1500 --tta_louder`).

Unreadable clips: a file that is not a readable WAV (`audio.WavError`: empty, truncated, not a
WAV, compressed) is logged with the reason and predicted as an all-zero clip, i.e. as digital
silence -- what a recording of nothing gives, which a trained model labels `silence`. So the
submission keeps exactly one row per `.wav`; the number of such clips is printed.

Writes (all three or none, each atomically, rows sorted by fname; PREFIX = --out without ".csv"):
  PREFIX.csv             `fname,label`, the 12 Kaggle labels. The label is the argmax of the
                         probabilities summed into the 12 Kaggle classes (`probs.to_kaggle`, sum
                         rule: unknown = total probability of `_unknown_` and every non-command
                         word), not the Kaggle class of the single most probable label; for a
                         12-class model both are the same.
  PREFIX_all_labels.csv  `fname,label` with the model's own labels (labels.txt names).
  PREFIX_probs.csv       `fname` + one probability column per model label (labels.txt order).
The outputs are checked before any clip is read: an existing one is replaced only with
`--overwrite` (`--out data/test/solution.csv` does not replace the ground truth by accident), one
that is an input of the run (its checkpoint, config.json, labels.txt) is an error even then, and
`--out` must name a file, not a folder. Errors exit with status 2 and `error: ...` (cli.py).
"""

import argparse
import collections
import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.submit import probs as prob_files
from kws import runs
from kws.submit import tta

log = logging.getLogger(__name__)

@dataclasses.dataclass
class Batch:
    """Clips ready for the model: x [variants, clips, samples] and the unreadable (fname, problem)."""

    x: np.ndarray
    failures: list
    read_seconds: float


def read_batch(paths, variants, clip_samples=audio.CLIP_SAMPLES):
    """Reads, decodes (fitted to `clip_samples`) and augments a list of clips (runs in a reader thread)."""
    started = time.perf_counter()
    clips = np.zeros((len(paths), clip_samples), np.float32)
    failures = []
    for i, path in enumerate(paths):
        try:
            clips[i] = audio.load_clip(path, clip_samples)
        except audio.WavError as e:
            failures.append((os.path.basename(path), e.problem))  # the row stays all-zero: digital silence
    x = np.stack([variant.apply(clips) for variant in variants])  # whole-batch numpy: little time under the GIL
    return Batch(x, failures, time.perf_counter() - started)


def iter_batches(paths, batch_size, variants, read_workers=2, prefetch_batches=4, clip_samples=audio.CLIP_SAMPLES):
    """Batches of clips of `clip_samples`, in order, read by a thread pool up to `prefetch_batches` ahead of
    the consumer."""
    with ThreadPoolExecutor(max_workers=read_workers, thread_name_prefix="wav-reader") as pool:
        pending = collections.deque()
        for start in range(0, len(paths), batch_size):
            pending.append(pool.submit(read_batch, paths[start:start + batch_size], variants, clip_samples))
            if len(pending) > prefetch_batches:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclasses.dataclass
class Prediction:
    """Averaged probabilities [clips, classes], unreadable clips and where the time went."""

    probs: np.ndarray
    failures: list
    seconds: float
    read_seconds: float  # summed over reader threads (overlaps with the model)
    model_seconds: float
    wait_seconds: float  # time the model sat waiting for clips: > 0 only if reading is the bottleneck


def predict_folder(keras_model, paths, variants, batch_size=256, read_workers=2, prefetch_batches=4,
                   progress=True):
    """Streams `paths` through the model (each clip fitted to its input length); probabilities averaged
    over the TTA variants."""
    if batch_size < 1 or read_workers < 1 or prefetch_batches < 0:
        raise cli.UserError("batch_size and read_workers must be >= 1, prefetch_batches >= 0")
    from kws.models import model as model_zoo  # Keras is loaded already (the caller holds a model); not at this module's import
    started = time.perf_counter()
    num_classes = keras_model.output_shape[-1]
    probs = np.zeros((len(paths), num_classes), np.float32)
    failures, read_seconds, model_seconds, wait_seconds, row = [], 0.0, 0.0, 0.0, 0
    batches = iter_batches(paths, batch_size, variants, read_workers, prefetch_batches,
                           model_zoo.clip_samples_of(keras_model))
    with tqdm(total=len(paths), unit="clip", desc="predicting", disable=not progress) as bar:
        while True:
            waited = time.perf_counter()
            batch = next(batches, None)
            wait_seconds += time.perf_counter() - waited
            if batch is None:
                break
            computed = time.perf_counter()
            count = batch.x.shape[1]
            full_batch = batch_size if len(paths) > batch_size else count
            probs[row:row + count] = tta.predict_variants(keras_model, batch.x, full_batch)
            model_seconds += time.perf_counter() - computed
            row += count
            failures += batch.failures
            read_seconds += batch.read_seconds
            bar.update(count)
    return Prediction(probs, failures, time.perf_counter() - started, read_seconds, model_seconds, wait_seconds)


def output_paths(out_prefix):
    """{kind: path} of the files written for PREFIX."""
    return {"submission": out_prefix + ".csv", "all_labels": out_prefix + "_all_labels.csv",
            "probs": out_prefix + "_probs.csv"}


def write_outputs(out_prefix, fnames, model_labels, probabilities):
    """Writes PREFIX.csv, PREFIX_all_labels.csv and PREFIX_probs.csv, all or none; returns (paths, Kaggle labels)."""
    table = prob_files.ProbTable(fnames, model_labels, probabilities, out_prefix)
    paths = output_paths(out_prefix)
    submission = prob_files.kaggle_predictions(table)
    cli.write_all({paths["probs"]: lambda tmp: prob_files.write_probs_csv(tmp, table),
                   paths["all_labels"]: lambda tmp: prob_files.write_label_csv(tmp, fnames, table.argmax_labels()),
                   paths["submission"]: lambda tmp: prob_files.write_label_csv(tmp, fnames, submission)})
    return paths, submission


def _print_report(prediction, paths, submission):
    n = len(submission)
    counts = collections.Counter(submission)
    print(f"predicted {n} clips in {prediction.seconds:.1f} s ({n / max(prediction.seconds, 1e-9):.1f} clips/s; "
          f"model {prediction.model_seconds:.1f} s, reading {prediction.read_seconds:.1f} s in threads, "
          f"waiting for clips {prediction.wait_seconds:.1f} s)")
    print(f"unreadable clips: {len(prediction.failures)} (predicted as all-zero clips)"
          + "".join(f"\n  {name}: {problem}" for name, problem in prediction.failures[:10]))
    print("labels: " + ", ".join(f"{label} {count}" for label, count in counts.most_common()))
    print("wrote " + ", ".join(paths.values()))


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", required=True, help="run folder written by train.py (e.g. runs/N)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file name inside the run, or a path (default: best.keras)")
    parser.add_argument("--test_dir", required=True,
                        help="folder of the test .wav files, or the one whose audio/ holds them (e.g. data/test)")
    parser.add_argument("--out", required=True,
                        help="submission path, e.g. submissions/N.csv; *_all_labels.csv and *_probs.csv go next to it")
    parser.add_argument("--tta_shift_samples", type=int, nargs="+", default=[],
                        help="TTA: shift left by N samples, zero-padded (several values: several variants)")
    parser.add_argument("--tta_louder", type=float, nargs="?", const=tta.DEFAULT_LOUDER, default=None,
                        help=f"TTA: multiply by FACTOR, clipped to [-1, 1] (default factor {tta.DEFAULT_LOUDER})")
    parser.add_argument("--tta_stretch", type=float, nargs="+", default=[],
                        help="TTA: librosa time stretch by RATE (> 1 faster), then fit to the clip length")
    parser.add_argument("--batch_size", type=int, default=256, help="clips per model call (default: 256)")
    parser.add_argument("--read_workers", type=int, default=2,
                        help="threads reading and decoding clips while the model runs (default: 2)")
    parser.add_argument("--prefetch_batches", type=int, default=4,
                        help="batches read ahead of the model (default: 4)")
    parser.add_argument("--limit", type=int, default=None,
                        help="predict only the first N clips in fname order (smoke tests)")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # the flag shifts left by N: tta.py's time shift -N (its one sign convention: > 0 later)
    variants = tta.tta_variants([-n for n in args.tta_shift_samples], args.tta_louder, args.tta_stretch)
    out_prefix = cli.out_prefix(args.out)
    runs.check_run_dir(args.run_dir)
    cli.check_outputs(output_paths(out_prefix).values(), runs.run_files(args.run_dir, args.checkpoint), args.overwrite)
    wavs = corpus.list_test_wavs(args.test_dir)
    fnames = list(wavs)
    if args.limit is not None:
        if args.limit < 1:
            raise cli.UserError(f"--limit must be >= 1, got {args.limit}")
        fnames = fnames[:args.limit]
    keras_model, model_labels, _ = runs.load_run(args.run_dir, args.checkpoint)
    log.info("%d clips, %d variant(s) per clip: %s", len(fnames), len(variants), variants)
    paths = [wavs[name] for name in fnames]
    prediction = predict_folder(keras_model, paths, variants, args.batch_size, args.read_workers,
                                args.prefetch_batches, progress=not args.no_progress)
    for name, problem in prediction.failures:
        log.warning("unreadable clip, predicted on an all-zero (silent) clip: %s: %s", name, problem)
    outputs, submission = write_outputs(out_prefix, fnames, model_labels, prediction.probs)
    _print_report(prediction, outputs, submission)
    return {"outputs": outputs, "clips": len(fnames), "unreadable": prediction.failures,
            "seconds": prediction.seconds, "model_seconds": prediction.model_seconds,
            "read_seconds": prediction.read_seconds, "wait_seconds": prediction.wait_seconds}

