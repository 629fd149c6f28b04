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
import struct
import sys
import time

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.models import oww_embeddings as oww

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".partial"
JOURNAL_MAGIC = "make_submission_on_rpi journal v1"
FSYNC_INTERVAL_S = 1.0  # fsync per line would cost more than a small model's inference
CLIP_DELAY_ENV = "KWS_RPI_CLIP_DELAY_S"
_PCM, _PCM16_BYTES = 1, 2


class InputError(cli.UserError):
    """Unusable input (model, labels, test folder, journal); the message names the file and problem."""


def _wav_layout(data):
    """(format tag, channels, rate, bits, data offset, data size) from the RIFF chunks, or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    fmt, offset = None, 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        if chunk_id == b"fmt " and size >= 16 and offset + 8 + 16 <= len(data):  # a cut header: audio.py names it
            fmt = struct.unpack_from("<HHI6xH", data, offset + 8)
        elif chunk_id == b"data":
            return None if fmt is None else (*fmt, offset + 8, size)
        offset += 8 + size + (size & 1)
    return None


def read_clip(data, name, clip_samples=audio.CLIP_SAMPLES):
    """(float32 [clip_samples] samples, True if plain 16-bit mono PCM); raises audio.WavError.

    The common case (16-bit mono 16 kHz) is read straight from the bytes -- the same values as
    `audio.decode_wav` gives, in a third of its time; everything else (other formats, channels and
    sample rates) goes through audio.py.
    """
    layout = _wav_layout(data)
    if layout is not None:
        tag, channels, rate, bits, start, size = layout
        frames = size // _PCM16_BYTES
        plain = (tag, channels, rate, bits) == (_PCM, 1, audio.SAMPLE_RATE, 16)
        if plain and 0 < frames and start + size <= len(data):
            samples = np.zeros(clip_samples, np.float32)
            pcm = np.frombuffer(data, "<i2", count=min(frames, clip_samples), offset=start)
            np.multiply(pcm, np.float32(1.0 / 32768.0), out=samples[:len(pcm)])
            return samples, True
    return audio.fit_clip(audio.decode_wav(data, name=name), clip_samples), False


def load_interpreter_class():
    """The TFLite Interpreter class of the lightest runtime installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            try:
                import tensorflow as tf
            except ImportError:
                raise InputError("no TFLite runtime installed: pip install -r requirements-rpi.txt") from None
            Interpreter = tf.lite.Interpreter
    return Interpreter


class TfliteModel:
    """A TFLite classifier float32 [1, S] -> [1, C] (S = `clip_samples`, the model's clip length);
    `predict` returns (probabilities, seconds inside)."""

    def __init__(self, path, num_threads):
        with open(path, "rb") as f:
            if f.read(8)[4:8] != b"TFL3":
                raise InputError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
        try:
            self.interpreter = load_interpreter_class()(model_path=path, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise InputError(f"{path}: the TFLite runtime cannot load it ({e})") from e
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        shapes = [tuple(d["shape"]) for d in inputs], [tuple(d["shape"]) for d in outputs]
        if (len(inputs) != 1 or len(shapes[0][0]) != 2 or shapes[0][0][0] != 1 or shapes[0][0][1] < 1
                or inputs[0]["dtype"] != np.float32 or len(outputs) != 1 or len(shapes[1][0]) != 2
                or shapes[1][0][0] != 1):
            raise InputError(f"{path}: expected one float32 input [1, S] (S samples: {audio.CLIP_SAMPLES} for "
                             f"1 s) and one output [1, C]; the model has inputs {shapes[0]} and outputs {shapes[1]}")
        self.input_index, self.output_index = inputs[0]["index"], outputs[0]["index"]
        self.clip_samples = int(shapes[0][0][1])
        self.num_classes = int(shapes[1][0][1])

    def predict(self, samples, data, plain_pcm16):
        start = time.perf_counter()
        self.interpreter.set_tensor(self.input_index, samples[None, :])
        self.interpreter.invoke()
        probs = self.interpreter.get_tensor(self.output_index)[0]
        return probs, time.perf_counter() - start


class EmbeddingHeadModel:
    """A head of oww_embeddings.export_head (`N.tflite` with `N_embeddings.json`): openWakeWord's feature
    models embed the clip, placed at the end of a 1.98 s window after zeros, and the head labels it."""

    def __init__(self, path, num_threads):
        try:
            self.clip_samples = oww.read_marker(path)["clip_samples"]  # the clips it was trained on
            self.front_end = oww.EmbeddingFrontEnd(num_threads)
            self.head = oww.load_head(path, num_threads)
        except (ValueError, RuntimeError) as e:
            raise InputError(f"{path}: {e}") from e
        self.num_classes = self.head.num_classes

    def predict(self, samples, data, plain_pcm16):
        start = time.perf_counter()
        probs = self.head(self.front_end.clip_embeddings(samples)[None])
        return probs, time.perf_counter() - start


class FrozenGraphModel:
    """A frozen GraphDef of freeze_graph.py; plain 16-bit mono WAV bytes go to `wav_data:0`,
    other clips (which the graph's DecodeWav would read differently) as samples to `decoded_sample_data:0`."""

    def __init__(self, path, num_threads):
        import tensorflow as tf

        self.tf = tf
        graph_def = tf.compat.v1.GraphDef()
        try:
            with open(path, "rb") as f:
                graph_def.ParseFromString(f.read())
        except Exception as e:  # protobuf raises its own DecodeError type
            raise InputError(f"{path}: not a frozen GraphDef ({e})") from e
        graph = tf.Graph()
        with graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
        try:
            self.wav_data, self.decoded, self.softmax = (
                graph.get_tensor_by_name(f"{name}:0") for name in ("wav_data", "decoded_sample_data", "labels_softmax"))
        except KeyError as e:
            raise InputError(f"{path}: not a freeze_graph.py graph ({e})") from e
        decoded = self.decoded.shape.as_list() if self.decoded.shape.rank is not None else None
        if self.softmax.shape.rank != 2 or decoded is None or len(decoded) != 2 or decoded[1] != 1 \
                or not decoded[0]:
            raise InputError(f"{path}: expected decoded_sample_data [S, 1] (S samples: {audio.CLIP_SAMPLES} "
                             f"for 1 s) and labels_softmax [1, C]; the graph has {self.decoded.shape} and "
                             f"{self.softmax.shape}")
        self.clip_samples = int(decoded[0])
        self.num_classes = int(self.softmax.shape[-1])
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=num_threads, inter_op_parallelism_threads=1)
        self.session = tf.compat.v1.Session(graph=graph, config=config)

    def predict(self, samples, data, plain_pcm16):
        start = time.perf_counter()
        if plain_pcm16:
            try:
                probs = self.session.run(self.softmax, {self.wav_data: data})
                return probs[0], time.perf_counter() - start
            except self.tf.errors.InvalidArgumentError:  # a chunk layout DecodeWav rejects
                start = time.perf_counter()
        probs = self.session.run(self.softmax, {self.decoded: samples[:, None]})
        return probs[0], time.perf_counter() - start


def load_model(path, num_threads):
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such model file")
    if path.endswith(".tflite"):
        return EmbeddingHeadModel(path, num_threads) if oww.is_head(path) else TfliteModel(path, num_threads)
    if path.endswith(".pb"):
        return FrozenGraphModel(path, num_threads)
    raise InputError(f"{path}: unknown kind of model file (expected .tflite or a frozen GraphDef .pb)")


def default_labels_path(model_path):
    """tf_files/N_labels.txt for tf_files/N.tflite, N_int8.tflite and N.pb."""
    stem = os.path.splitext(model_path)[0]
    return f"{stem.removesuffix('_int8')}_labels.txt"


def read_model_labels(path, num_classes):
    if not os.path.isfile(path):
        raise InputError(f"{path}: labels file not found (freeze_graph.py writes it beside the model; "
                         "or pass --labels)")
    model_labels = label_sets.read_labels(path)
    if len(model_labels) != num_classes:
        raise InputError(f"{path}: {len(model_labels)} labels, but the model has {num_classes} outputs")
    return model_labels


def list_test_wavs(test_dir):
    """{fname: path} of the test WAVs (`corpus.list_test_wavs`: the folder's own, else its audio/), its
    errors raised as this script's InputError."""
    try:
        return corpus.list_test_wavs(test_dir)
    except (cli.UserError, OSError) as e:
        raise InputError(cli.describe(e)) from e


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
        raise InputError(f"{journal_path}: the journal of an unfinished run with another {', '.join(changed)}; "
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
            samples, plain = read_clip(data, wavs[fname], model.clip_samples)
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
    labels_path = args.labels or default_labels_path(args.model)
    model = load_model(args.model, args.num_threads)
    model_labels = read_model_labels(labels_path, model.num_classes)
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

