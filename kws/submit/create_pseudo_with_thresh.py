r"""Pseudo-labels: keeps the test clips whose top probability reaches a threshold, for training again.

    python create_pseudo_with_thresh.py --probs submissions/N_probs.csv --threshold 0.7 \
        --test_dir data/test/audio --out data/pseudo_N [--solution data/test/solution.csv] \
        [--silence_clips_per_file 60] [--overwrite]

Reads a probability file (`probs.read_probs`: a model's `*_probs.csv`, a Kaggle-order CSV or
memmap, an ensemble's `*_probs.csv`) and the clips of `--test_dir` (the folder holding the
`fname` wavs; `DIR/audio` is used when the wavs are there). A clip is kept when its highest
probability is >= `--threshold`; its label is that column's class, written as a model label:
words stay words (all-word probabilities give word labels), "silence"/"_silence_" becomes
`_silence_` and "unknown"/"_unknown_" becomes `_unknown_`.

Writes into OUT (everything is built in a temporary folder inside OUT and moved into place, the
CSV last; when no clip reaches the threshold, the list is empty and a warning says so):
  OUT/pseudo_labels.json    the marker of what this script wrote into OUT (written first):
                            {"written_by", "outputs": [names in OUT], "probs", "threshold", "kept"}.
  OUT/pseudo_labels.csv     `path,label`, paths relative to OUT: the list train.py takes as
                            `--pseudo_labels` (input_data.AudioProcessor(pseudo_labels=...) mixes
                            these clips into training slots; labels map to wanted word,
                            `_silence_` or `_unknown_`).
  OUT/audio/<label>/<fname> copies of the kept non-silence clips (Speech Commands layout).
  OUT/silence/<fname>       copies of the kept silence clips (listed in the CSV as `_silence_`;
                            outside `audio/` so that a data-folder scan does not take `_silence_`
                            for a word).
  OUT/audio/_background_noise_/pseudo_silence_NNN.wav
                            the silence clips joined, `--silence_clips_per_file` per file: real
                            test-set silence for background mixing and silence samples.

Replacing: OUT's outputs of an earlier run are replaced only with `--overwrite`, and only when
OUT/pseudo_labels.json says this script wrote them: an `audio/`, `silence/` or CSV that it did not
write is an error even with `--overwrite` (remove it yourself or choose another `--out`). OUT may
not be the folder of the test clips nor hold them (`--out` = `--test_dir`), nor hold the
probability or solution file.

Two ways to train with it: `--pseudo_labels OUT/pseudo_labels.csv` (the intended one: the clips
stay out of validation), or OUT as an extra data folder. The AudioProcessor then takes OUT's
noise files, treats `audio/<word>` as words and `_unknown_` as unknown -- but OUT has no list
files, so its clips are split by `which_set` (the file-name hash), and about 20% of the pseudo
clips land in validation/testing, where they flatter the scores.

Prints the kept count per label and, with `--solution` (CSV fname,label[,word] of the test set),
the precision of the pseudo labels (comparing Kaggle labels), overall and per label.
"""

import argparse
import collections
import logging
import os
import shutil

import numpy as np
from tqdm import tqdm

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.submit import probs as prob_files
from kws import runs

log = logging.getLogger(__name__)

PSEUDO_CSV = corpus.PSEUDO_LABELS_FILE
MARKER = "pseudo_labels.json"  # what this script wrote into OUT: --overwrite removes only that
WRITTEN_BY = "create_pseudo_with_thresh.py"
AUDIO_DIR = corpus.AUDIO_DIR
SILENCE_DIR = "silence"
NOISE_PATTERN = "pseudo_silence_{:03d}.wav"
_OUTPUTS = (PSEUDO_CSV, AUDIO_DIR, SILENCE_DIR)


def select(table, threshold):
    """(fnames, model labels, top probabilities) of the rows whose top probability >= threshold."""
    if not 0.0 <= threshold <= 1.0:
        raise cli.UserError(f"--threshold must be in [0, 1], got {threshold}")
    top = table.values.max(axis=1)
    best = table.values.argmax(axis=1)
    kept = np.flatnonzero(top >= threshold)
    return ([table.fnames[i] for i in kept], [label_sets.model_label(table.classes[best[i]]) for i in kept], top[kept])


def clip_folder(test_dir, fnames):
    """The folder that holds the clips (`corpus.test_wav_folder`: `test_dir`, or its audio/ when it holds
    no WAVs); errors name missing clips."""
    folder = corpus.test_wav_folder(test_dir)
    missing = [f for f in fnames if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise FileNotFoundError(f"{folder}: {len(missing)} of the {len(fnames)} kept clips are missing, "
                                f"e.g. {missing[:5]} (is --test_dir the folder of the probability file's clips?)")
    return folder


def join_silence(paths, noise_dir, clips_per_file):
    """Concatenates silence clips into noise files of `clips_per_file` clips; returns their paths."""
    if clips_per_file < 1:
        raise cli.UserError(f"--silence_clips_per_file must be >= 1, got {clips_per_file}")
    samples = []
    for path in paths:
        try:
            samples.append(audio.read_wav(path))
        except audio.WavError as e:
            log.warning("silence clip left out of the noise files: %s", e)
    written = []
    for number, start in enumerate(range(0, len(samples), clips_per_file)):
        os.makedirs(noise_dir, exist_ok=True)
        path = os.path.join(noise_dir, NOISE_PATTERN.format(number))
        audio.write_wav(path, np.concatenate(samples[start:start + clips_per_file]))
        written.append(path)
    return written


def write_folder(staging, source_dir, fnames, pseudo_labels, clips_per_file):
    """Copies the clips into `staging`, joins the silence, writes the CSV; returns the noise files."""
    os.makedirs(staging, exist_ok=True)  # also when nothing is kept: the empty list is a result
    rows, silence_paths = [], []
    for fname, label in tqdm(list(zip(fnames, pseudo_labels)), desc="copying", unit="clip"):
        if label == label_sets.SILENCE_LABEL:
            relative = os.path.join(SILENCE_DIR, fname)
            silence_paths.append(os.path.join(source_dir, fname))
        else:
            relative = os.path.join(AUDIO_DIR, label, fname)
        os.makedirs(os.path.dirname(os.path.join(staging, relative)), exist_ok=True)
        shutil.copyfile(os.path.join(source_dir, fname), os.path.join(staging, relative))
        rows.append((relative.replace(os.sep, "/"), label))
    noise_dir = os.path.join(staging, AUDIO_DIR, label_sets.BACKGROUND_NOISE_DIR)
    noise_files = join_silence(silence_paths, noise_dir, clips_per_file)
    corpus.write_pseudo_labels(os.path.join(staging, PSEUDO_CSV), rows)
    return [os.path.basename(p) for p in noise_files]


def existing_outputs(out_dir):
    """The names this script writes that are present in OUT (the marker included)."""
    return [name for name in (*_OUTPUTS, MARKER) if os.path.lexists(os.path.join(out_dir, name))]


def written_here(out_dir):
    """The names an earlier run of this script wrote into OUT, from its marker ([] without one)."""
    path = os.path.join(out_dir, MARKER)
    if not os.path.isfile(path):
        return []
    marker = runs.read_json(path)
    if not isinstance(marker, dict) or marker.get("written_by") != WRITTEN_BY:
        raise cli.UserError(f"{path}: not the marker of {WRITTEN_BY}; remove it or choose another --out")
    return [name for name in marker.get("outputs", []) if name in _OUTPUTS]


def check_out_dir(out_dir, inputs, overwrite):
    """Raises UserError unless OUT's outputs may be written: none is an input or holds one, and
    any present were written by this script and `overwrite` is given."""
    cli.refuse_inputs([os.path.join(out_dir, name) for name in (*_OUTPUTS, MARKER)], inputs)
    existing = existing_outputs(out_dir)
    if existing and not overwrite:
        raise cli.UserError(f"{out_dir}: already holds {existing}; pass --overwrite to replace the outputs of "
                            "the earlier run, or choose another --out")
    foreign = [name for name in existing if name != MARKER and name not in written_here(out_dir)]
    if foreign:
        raise cli.UserError(f"{out_dir}: {foreign} were not written by {WRITTEN_BY} (no {MARKER} lists them); "
                            "--overwrite replaces only its own outputs: remove them yourself or choose another --out")


def publish(staging, out_dir, marker):
    """Replaces an earlier run's outputs in OUT by the staged ones: the marker first, the CSV last."""
    for name in written_here(out_dir):
        target = os.path.join(out_dir, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.remove(target)
    runs.write_json(os.path.join(out_dir, MARKER), marker)
    for name in (AUDIO_DIR, SILENCE_DIR, PSEUDO_CSV):
        if os.path.exists(os.path.join(staging, name)):
            os.replace(os.path.join(staging, name), os.path.join(out_dir, name))


def precision(fnames, pseudo_labels, solution_path):
    """(overall precision, {Kaggle label: (precision, count)}) of the pseudo labels."""
    solution = prob_files.read_label_csv(solution_path).set_index(prob_files.FNAME)[prob_files.LABEL]
    missing = sorted(set(fnames) - set(solution.index))
    if missing:
        raise cli.UserError(f"{solution_path}: {len(missing)} pseudo-labelled clips are not in the solution, "
                            f"e.g. {missing[:5]}")
    predicted = [label_sets.kaggle_label(label) for label in pseudo_labels]
    correct = np.array([p == t for p, t in zip(predicted, solution.loc[list(fnames)])], bool)
    per_label = {}
    for label in sorted(set(predicted)):
        rows = np.array([p == label for p in predicted])
        per_label[label] = (float(correct[rows].mean()), int(rows.sum()))
    return (float(correct.mean()) if len(correct) else None), per_label


def create_pseudo(probs_path, threshold, test_dir, out_dir, clips_per_file=60, overwrite=False, solution=None):
    """Selects, copies and writes everything.

    Returns (kept fnames, their labels, noise file names, number of rows in the probability file).
    """
    table = prob_files.read_probs(probs_path)
    fnames, pseudo_labels, _ = select(table, threshold)
    source_dir = clip_folder(test_dir, fnames)
    # before copying thousands of clips
    check_out_dir(out_dir, [*prob_files.source_files(probs_path), test_dir, source_dir, solution], overwrite)
    os.makedirs(out_dir, exist_ok=True)
    if not fnames:
        log.warning("no clip reaches the threshold %s: the pseudo-label list is empty", threshold)
    staging = os.path.join(out_dir, f".pseudo_tmp{os.getpid()}")
    try:
        noise_files = write_folder(staging, source_dir, fnames, pseudo_labels, clips_per_file)
        written = [name for name in _OUTPUTS if os.path.exists(os.path.join(staging, name))]
        publish(staging, out_dir, {"written_by": WRITTEN_BY, "outputs": written, "probs": str(probs_path),
                                   "threshold": threshold, "kept": len(fnames)})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return fnames, pseudo_labels, noise_files, len(table.fnames)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probs", required=True, help="probability file (CSV, memmap sidecar .json or PREFIX)")
    parser.add_argument("--threshold", type=float, required=True,
                        help="keep clips whose top probability is >= this (e.g. 0.7)")
    parser.add_argument("--test_dir", required=True, help="folder of the test wavs named in the probability file")
    parser.add_argument("--out", required=True, help="output folder (pseudo_labels.csv, audio/, silence/)")
    parser.add_argument("--solution", default=None,
                        help="optional CSV fname,label of the test set: report the pseudo labels' precision")
    parser.add_argument("--silence_clips_per_file", type=int, default=60,
                        help="silence clips joined per background-noise file (default: 60, one minute)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the outputs of an earlier run of this script in --out (listed in its marker)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    fnames, pseudo_labels, noise_files, total = create_pseudo(
        args.probs, args.threshold, args.test_dir, args.out, args.silence_clips_per_file, args.overwrite, args.solution)
    counts = collections.Counter(pseudo_labels)
    print(f"kept {len(fnames)} of {total} clips (top probability >= {args.threshold}); "
          f"{len(noise_files)} silence noise file(s); wrote {os.path.join(args.out, PSEUDO_CSV)}")
    for label, count in sorted(counts.items()):
        print(f"  {label:<12}{count:>8}")
    result = {"kept": len(fnames), "total": total, "counts": dict(counts), "noise_files": noise_files}
    if args.solution:
        overall, per_label = precision(fnames, pseudo_labels, args.solution)
        shown = "n/a (nothing kept)" if overall is None else f"{overall:.4f}"
        print(f"precision of the pseudo labels (Kaggle labels): {shown}")
        for label, (value, count) in per_label.items():
            print(f"  {label:<12}{value:.4f}  ({count} clips)")
        result.update(precision=overall, per_label_precision=per_label)
    return result

