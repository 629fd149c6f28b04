"""Writes a Kaggle submission on a Raspberry Pi: one clip at a time, few dependencies, resumable.

Command line:

    python make_submission_on_rpi.py --model tf_files/N.tflite --test_data data/test \\
        --submission_fn submissions/N_rpi.csv [--labels FILE] [--num_threads 4] [--limit K] [--restart] \\
        [--overwrite]

Reads a model written by freeze_graph.py -- a TFLite file (`.tflite`, float32 or int8, input
float32 [1, S]) or a frozen GraphDef (`.pb`, fed a WAV file's bytes at `wav_data:0`, read at
`labels_softmax:0`), or a head on openWakeWord's embeddings (a `.tflite` with `N_embeddings.json`
beside it, custom_keywords.py --front_end openwakeword; it needs the pyopen-wakeword wheel's feature
models: oww_embeddings.py) -- its labels (`--labels`, default beside the model: `tf_files/N_labels.txt`
for `N.tflite`, `N_int8.tflite` and `N.pb`), and every `*.wav` directly inside `--test_data` (or
inside `--test_data/audio` when the folder itself holds none: `corpus.list_test_wavs`, the rule of
make_submission.py too). Writes the submission CSV `fname,label` (header, one row
per WAV sorted by file name), exactly as make_submission.py writes it: the label is the argmax of
the probabilities summed into the 12 Kaggle classes (the sum rule of `probs.to_kaggle`; for a
12-class model simply the most probable label's Kaggle class). With `--model_labels` the label is
instead the model's most probable label as its labels file names it (`_silence_`, `_unknown_`, or
a keyword such as `lights_on`): the output of a model of your own keywords (custom_keywords.py),
whose words the 12 Kaggle labels would all call `unknown`; a model without any of the ten Kaggle
command words gets its own labels without the flag.

Dependencies: for `.tflite` only numpy and a TFLite runtime (`ai_edge_litert`, else
`tflite_runtime`, else TensorFlow's `tf.lite`; see requirements-rpi.txt); TensorFlow, scipy,
pandas and Keras are not imported. `.pb` needs TensorFlow. tqdm shows progress when installed.
The loaders, the file names and the WAV reader are runtime.py's; this script holds the journal and
the loop.

Clips: WAVs as `audio.py` reads them (integer PCM or float, several channels averaged, any sample
rate: a Pi's USB microphone records at 44.1 or 48 kHz; resampled to 16 kHz with numpy, the values
scipy's resample_poly gives), cut or zero-padded at the end to the model's S samples (its clip
length: the TFLite input's [1, S], the graph's `decoded_sample_data` [S, 1]; 16000 for a model of
one-second clips, whatever its training run's `clip_duration_ms` made it). An unreadable clip
(not a WAV, truncated, empty, compressed) is predicted as an all-zero clip -- make_submission.py's
rule: digital silence, which a trained model labels `silence` -- listed in the log and counted in
the report.

Resuming: results go first to an append-only journal `<submission_fn>.partial` (a header line
fingerprinting the model, labels and test set, then one `fname,label` line per clip, flushed to
the OS at once -- a Ctrl-C or kill -9 loses nothing -- and fsynced at least every second, so a
power cut costs at most a second of work). Run the same command again to continue: a torn or
corrupt tail of the journal is dropped and recomputed. The CSV appears only when every clip is
done, written atomically, and the journal is then removed, so the CSV is byte-identical to an
uninterrupted run's and never exists half-written. A journal started with another model, labels
or test set is an error (pass `--restart` to discard it). A test hook: the environment variable
`KWS_RPI_CLIP_DELAY_S` sleeps that many seconds after each clip (to interrupt a run mid-way).

Outputs: an existing `--submission_fn` (a finished run's CSV, or any other file) is replaced only
with `--overwrite`; the journal is this script's own file. The CSV may not be the model, the
labels file or a test clip, even with `--overwrite`. Exit status (cli.py): 2 with `error: ...`
for unusable input, 130 after Ctrl-C (the journal keeps what was done).

Report (printed at the end): clips, unreadable clips, and per-clip time in ms (mean, median,
p90) in total and inside the interpreter, and the share spent outside it (WAV reading, journal).
"""

import argparse
import csv
import hashlib
import logging
import os
import sys
import time

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.export import runtime

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".partial"
JOURNAL_MAGIC = "make_submission_on_rpi journal v1"
FSYNC_INTERVAL_S = 1.0  # fsync per line would cost more than a small model's inference
CLIP_DELAY_ENV = "KWS_RPI_CLIP_DELAY_S"


def list_test_wavs(test_dir):
    """{fname: path} of the test WAVs (`corpus.list_test_wavs`: the folder's own, else its audio/), its
    errors raised as runtime.InputError."""
    try:
        return corpus.list_test_wavs(test_dir)
    except (cli.UserError, OSError) as e:
        raise runtime.InputError(cli.describe(e)) from e


def fingerprint(model_path, model_labels, wavs, own_labels=False):
    """Journal header: hashes of the model file, the labels (and whether they are written as they are),
    and the test set (names and sizes)."""
    model_hash = hashlib.sha256()
    with open(model_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            model_hash.update(block)
    test_set = "".join(f"{name}\t{os.path.getsize(wavs[name])}\n" for name in sorted(wavs))
    return {"model": model_hash.hexdigest()[:16],
            "labels": hashlib.sha256("\n".join(model_labels + ["--model_labels"] * own_labels).encode()).hexdigest()[:16],
            "test_set": hashlib.sha256(test_set.encode()).hexdigest()[:16]}


def _header(prints):
    return f"# {JOURNAL_MAGIC} " + " ".join(f"{k}={v}" for k, v in prints.items()) + "\n"


def read_journal(journal_path, prints, wavs):
    """{fname: label} done so far; a torn or corrupt tail is cut off the file; mismatch -> InputError."""
    with open(journal_path, "rb") as f:
        content = f.read()
    if b"\n" not in content:  # the header itself was torn: nothing was done
        return None
    header, _, body = content.partition(b"\n")
    if header.decode("utf-8", "replace") + "\n" != _header(prints):
        found = dict(item.split("=", 1) for item in header.decode("utf-8", "replace").split()[2:] if "=" in item)
        changed = [k for k in prints if found.get(k) != prints[k]] or ["format"]
        raise runtime.InputError(f"{journal_path}: the journal of an unfinished run with another {', '.join(changed)}; "
                         "delete it or pass --restart to start over")
    done, kept_bytes = {}, len(header) + 1
    for line in body.split(b"\n")[:-1]:  # the piece after the last newline is a torn line
        fname, _, label = line.decode("utf-8", "replace").rpartition(",")
        if fname not in wavs or fname in done or label not in label_sets.KAGGLE_LABELS:
            break  # garbage left by a power cut: recompute from here
        done[fname] = label
        kept_bytes += len(line) + 1
    if kept_bytes < len(content):
        log.warning("%s: dropping %d bytes of torn or corrupt journal tail", journal_path, len(content) - kept_bytes)
        with open(journal_path, "r+b") as f:
            f.truncate(kept_bytes)
    return done


def open_journal(journal_path, submission_fn, prints, wavs, restart):
    """(done {fname: label}, journal file open for appending)."""
    done = None
    if os.path.exists(journal_path) and not restart:
        done = read_journal(journal_path, prints, wavs)
    if done is None:
        if os.path.exists(submission_fn):  # a CSV of an older run must not pass for this run's result
            os.remove(submission_fn)
        with open(journal_path, "wb") as f:
            f.write(_header(prints).encode())
            f.flush()
            os.fsync(f.fileno())
        done = {}
    else:
        log.info("resuming: %d of %d clips already in %s", len(done), len(wavs), journal_path)
    return done, open(journal_path, "ab")


def write_submission(path, done):
    """The final CSV, atomically: header and one sorted `fname,label` row per clip.

    The csv module with os.linesep line ends and minimal quoting is what pandas' `to_csv` (behind
    make_submission.py) writes, so both scripts give the same bytes.
    """
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator=os.linesep)
            writer.writerow(["fname", "label"])
            writer.writerows([fname, done[fname]] for fname in sorted(done))
    cli.write_atomic(path, write, fsync=True)  # the journal is removed next: the CSV must be on the disk


def _progress(items, total):
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, unit="clip", mininterval=1.0)


def writes_own_labels(model_labels, asked):
    """True when the submission carries the model's labels: asked for, or no Kaggle command word among them."""
    return asked or not set(model_labels) & set(label_sets.COMMAND_WORDS)


def classify_clips(model, model_labels, todo, wavs, journal, done, own_labels=False):
    """Classifies the clips `todo`, journalling each; returns (total, interpreter) seconds per clip, unreadable."""
    delay_s = float(os.environ.get(CLIP_DELAY_ENV, "0") or 0)
    names, membership = label_sets.KAGGLE_PROB_ORDER, label_sets.kaggle_membership(model_labels)
    if own_labels:
        names, membership = model_labels, np.eye(len(model_labels), dtype=np.float32)
    silence = np.zeros(model.clip_samples, np.float32)
    total_s, inside_s, unreadable = [], [], []
    last_sync = time.monotonic()
    for fname in _progress(todo, len(todo)):
        start = time.perf_counter()
        with open(wavs[fname], "rb", buffering=0) as f:  # one read of the whole file: no buffer layer
            data = f.read()
        try:
            samples, plain = runtime.read_clip(data, wavs[fname], model.clip_samples)
        except audio.WavError as e:  # predicted as an all-zero clip, as make_submission.py does
            samples, plain = silence, False
            unreadable.append(str(e))
        probs, seconds = model.predict(samples, data, plain)
        label = names[(probs @ membership).argmax()]
        inside_s.append(seconds)
        journal.write(f"{fname},{label}\n".encode())
        journal.flush()
        if time.monotonic() - last_sync >= FSYNC_INTERVAL_S:
            os.fsync(journal.fileno())
            last_sync = time.monotonic()
        done[fname] = label
        total_s.append(time.perf_counter() - start)
        if delay_s:
            time.sleep(delay_s)
    return total_s, inside_s, unreadable


def timing_report(total_s, inside_s):
    """Lines of per-clip time statistics in ms, over the clips the model classified."""
    total_ms = np.array(total_s) * 1e3
    inside_ms = np.array(inside_s) * 1e3
    if not len(inside_ms):
        return ["no clip was classified in this run"]
    lines = [f"per clip (ms, {len(total_ms)} clips){'mean':>10}{'median':>10}{'p90':>10}"]
    for name, values in (("total", total_ms), ("inside the interpreter", inside_ms),
                         ("outside the interpreter", total_ms - inside_ms)):
        lines.append(f"  {name:<27}{values.mean():>10.3f}{np.median(values):>10.3f}{np.percentile(values, 90):>10.3f}")
    outside = 1.0 - inside_ms.sum() / total_ms.sum()
    lines.append(f"  time outside the interpreter: {outside:.1%} of the total (WAV reading, journal, labels)")
    return lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="tf_files/N.tflite, N_int8.tflite or N.pb (freeze_graph.py)")
    parser.add_argument("--test_data", required=True, help="folder of test WAVs (or holding audio/ with them)")
    parser.add_argument("--submission_fn", required=True, help="submission CSV to write (fname,label)")
    parser.add_argument("--labels", default=None,
                        help="labels file (default: <model stem without _int8>_labels.txt beside the model)")
    parser.add_argument("--num_threads", type=int, default=min(4, os.cpu_count() or 1),
                        help="interpreter threads (default: min(4, CPU cores); a Pi 3 has 4)")
    parser.add_argument("--limit", type=int, default=0,
                        help="stop after classifying this many clips (0 = all); run again to continue")
    parser.add_argument("--model_labels", action="store_true",
                        help="write the model's own labels (labels file names) instead of the 12 Kaggle labels "
                             "(automatic for a model without any Kaggle command word)")
    parser.add_argument("--restart", action="store_true",
                        help="discard an unfinished run's journal instead of resuming it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --submission_fn (e.g. the CSV of a finished run)")
    args = parser.parse_args(argv)
    if args.num_threads < 1 or args.limit < 0:
        parser.error("--num_threads must be >= 1 and --limit >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    labels_path = args.labels or runtime.default_labels_path(args.model)
    model = runtime.load_model(args.model, args.num_threads)
    model_labels = runtime.read_model_labels(labels_path, model.num_classes)
    wavs = list_test_wavs(args.test_data)
    own_labels = writes_own_labels(model_labels, args.model_labels)
    cli.check_outputs([args.submission_fn], [args.model, labels_path, *wavs.values()], args.overwrite)
    journal_path = args.submission_fn + JOURNAL_SUFFIX
    os.makedirs(os.path.dirname(os.path.abspath(args.submission_fn)), exist_ok=True)
    done, journal = open_journal(journal_path, args.submission_fn,
                                 fingerprint(args.model, model_labels, wavs, own_labels), wavs, args.restart)
    todo = sorted(set(wavs) - set(done))
    resumed = len(done)
    if args.limit:
        todo = todo[:args.limit]
    try:
        with journal:
            total_s, inside_s, unreadable = classify_clips(model, model_labels, todo, wavs, journal, done, own_labels)
            os.fsync(journal.fileno())
    except KeyboardInterrupt:
        print(f"\n{len(done)} of {len(wavs)} clips are in {journal_path}; run again to continue", file=sys.stderr)
        raise
    for problem in unreadable:
        log.warning("unreadable clip predicted as silence (all zeros): %s", problem)
    print(f"clips: {len(wavs)} ({resumed} from the journal, {len(total_s)} classified now, "
          f"{len(unreadable)} unreadable, predicted as all-zero clips)")
    print("\n".join(timing_report(total_s, inside_s)))
    if len(done) < len(wavs):
        print(f"stopped after --limit {args.limit}: {len(done)} of {len(wavs)} clips in {journal_path}")
        return None
    write_submission(args.submission_fn, done)
    os.remove(journal_path)
    print(f"wrote {args.submission_fn}")
    return args.submission_fn

