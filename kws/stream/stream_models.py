"""Every model format as a stream of per-hop probabilities, for spot_keywords.py.

    model = load_stream_model("tf_files/N_int8.tflite", hop_samples=1600)
    probs = model.stream.push(hop)   # float32 [hop_samples] -> probabilities of the last window

The window is the model's clip length (`stream.window_samples`: the TFLite input [1, S], the
graph's decoded_sample_data [S, 1], the Keras model's input, the streaming spec's `window_samples`).

Formats (`load_stream_model(path, ...)`):
- `.tflite` (float or int8): numpy and a TFLite runtime only (runtime.py's loader, as in make_submission_on_rpi.py).
  When freeze_graph.py `--streaming` left `N_streaming.json` beside `N.tflite` / `N_int8.tflite`,
  the hop runs the feature front end `N_features.tflite` on the new frames and the classifier
  `N_classifier.tflite` / `N_classifier_int8.tflite` on the feature window (streaming.FeatureStream);
  otherwise, and with `full_window`, the whole model runs on the whole window (WindowStream).
  Labels: `N_labels.txt` (or `labels_path`).
- a run folder or a `.keras` file (TensorFlow + Keras): split the same way in memory
  (stream_export.split_model) when the model has a log-mel/MFCC front end, else the whole window.
  Labels: the run's labels.txt, a `.keras` file's folder's labels.txt, or `labels_path`.
- a frozen graph `.pb` (TensorFlow): the whole window, fed to `decoded_sample_data:0`.
- a head on openWakeWord's embeddings (`.tflite` with `N_embeddings.json` beside it,
  oww_embeddings.export_head): oww_embeddings.EmbeddingStream (the feature models of the installed
  pyopen-wakeword wheel on the new audio, the head on the last 1.98 s of embeddings).

A spotter folder (make_spotter.py) holds `spotter.json` beside its model: `read_spotter(folder)`
checks it and returns its rule, with the model's and labels' paths inside the folder;
`load_stream_model(folder)` loads its model (numpy and a TFLite runtime only) and
`spotter_thresholds` picks the thresholds of a false-alarm target.

`StreamModel.macs_per_hop` and `.quantized` give the multiply-adds a hop costs (front end of the
new frames + classifier, or the whole model) for runtime.py's Raspberry Pi 3 estimate
(`pi3_hop_ms`); None where they are not known (Keras, .pb).
"""

import dataclasses
import json
import os
import sys
import time

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import labels as label_sets
from kws.models import oww_embeddings as oww
from kws.export import runtime
from kws.stream import streaming

SPOTTER_FILE = "spotter.json"  # in a spotter folder of make_spotter.py
SPOTTER_FORMAT = 1
SPOTTER_RULE_KEYS = ("hop_ms", "smooth_ms", "min_hops", "refractory_ms")
# The rule of a model that is not a spotter folder (a spotter folder brings its own, calibrated)
DEFAULT_RULE = {"hop_ms": 100.0, "smooth_ms": 500.0, "threshold": 0.7, "refractory_ms": 1000.0, "min_hops": 1}


@dataclasses.dataclass
class StreamModel:
    labels: list
    stream: object  # streaming.WindowStream or streaming.FeatureStream
    description: str
    macs_per_hop: dict = None  # {"float": ..., "int8": ...} multiply-adds per hop by kind of kernel
    quantized: bool = False

    def pi3_hop_ms(self):
        """Raspberry Pi 3 estimate of one hop in ms (runtime.PI3_ASSUMPTION), or None."""
        if self.macs_per_hop is None:
            return None
        return runtime.pi3_ms(self.macs_per_hop["float"], self.macs_per_hop["int8"])


class TfliteFunction:
    """A one-input, one-output TFLite model as a function of a float32 array; the input's first
    dimension is resized when the array's differs (the front end's frame count)."""

    def __init__(self, path, num_threads):
        if not os.path.isfile(path):
            raise runtime.InputError(f"{path}: no such model file (freeze_graph.py --streaming writes it)")
        try:
            self.interpreter = runtime.load_interpreter_class()(model_path=path, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise runtime.InputError(f"{path}: the TFLite runtime cannot load it ({e})") from e
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0]["dtype"] != np.float32:
            raise runtime.InputError(f"{path}: expected one float32 input and one output")
        self.path, self.input_index, self.output_index = path, inputs[0]["index"], outputs[0]["index"]
        self.input_shape = tuple(int(d) for d in inputs[0]["shape"])

    def __call__(self, x):
        if x.shape != self.input_shape:
            self.interpreter.resize_tensor_input(self.input_index, x.shape)
            self.interpreter.allocate_tensors()
            self.input_shape = x.shape
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index).copy()


def tail_samples(stream_model, tail_ms=None):
    """Samples of silence fed after a stream's end so that its last word is heard whole: `tail_ms`, or
    by default one window (the model's clip length), after which the last word has slid through it."""
    if tail_ms is None:
        return stream_model.stream.window_samples
    return round(tail_ms * audio.SAMPLE_RATE / 1000)


def read_spec(path):
    """The streaming spec JSON of freeze_graph.py --streaming, checked."""
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise runtime.InputError(f"{path}: cannot read the streaming spec ({e})") from e
    needed = ("window_samples", "frame_length_samples", "frame_step_samples", "frames", "bins",
              "front_end_macs_per_frame", "classifier_macs")
    missing = [key for key in needed if not isinstance(spec.get(key), int)]
    if missing:
        raise runtime.InputError(f"{path}: not a streaming spec of freeze_graph.py (no integer {', '.join(missing)})")
    return spec


def _hop_macs(spec, hop_samples, int8_classifier):
    front_end = hop_samples // spec["frame_step_samples"] * spec["front_end_macs_per_frame"]
    classifier = spec["classifier_macs"]
    return {"float": front_end + (0 if int8_classifier else classifier), "int8": classifier if int8_classifier else 0}


def _embedding_head(path, num_threads, labels_path):
    """A head of oww_embeddings.export_head: openWakeWord's feature models on each hop's new audio, the head
    on the last embeddings (the hop may be any length: embeddings come every 80 ms)."""
    try:
        marker = oww.read_marker(path)
        front_end = oww.EmbeddingFrontEnd(num_threads)
        head = oww.load_head(path, num_threads)
    except (ValueError, RuntimeError) as e:
        raise runtime.InputError(f"{path}: {e}") from e
    model_labels = runtime.read_model_labels(labels_path or runtime.default_labels_path(path), head.num_classes)
    return StreamModel(model_labels, oww.EmbeddingStream(front_end, head, marker["clip_samples"]),
                       f"openWakeWord mel + embedding models on new frames + {os.path.basename(path)}")


def _tflite(path, hop_samples, num_threads, labels_path, full_window):
    if runtime.is_embedding_head(path):
        return _embedding_head(path, num_threads, labels_path)
    files = runtime.streaming_files(path)
    quantized = runtime.is_int8(files["classifier"])
    if not full_window and os.path.isfile(files["spec"]):
        spec = read_spec(files["spec"])
        front_end, classifier = TfliteFunction(files["front_end"], num_threads), \
            TfliteFunction(files["classifier"], num_threads)
        stream = streaming.FeatureStream(front_end, lambda f: classifier(f[None])[0], spec, hop_samples)
        model_labels = runtime.read_model_labels(labels_path or runtime.default_labels_path(path),
                                             classifier.interpreter.get_output_details()[0]["shape"][-1])
        return StreamModel(model_labels, stream, f"{os.path.basename(files['front_end'])} on new frames + "
                                                 f"{os.path.basename(files['classifier'])}",
                           _hop_macs(spec, hop_samples, quantized), quantized)
    whole = runtime.TfliteModel(path, num_threads)
    model_labels = runtime.read_model_labels(labels_path or runtime.default_labels_path(path), whole.num_classes)
    try:
        with open(path, "rb") as f:
            stats = runtime.tflite_graph_stats(f.read())
        kind = "int8" if stats["quantized"] else "float"
        macs, quantized = {"float": 0, "int8": 0, kind: stats["macs"]}, stats["quantized"]
    except runtime.InputError:  # tflite-runtime has no flatbuffer schema to count with
        macs, quantized = None, runtime.is_int8(path)
    return StreamModel(model_labels, streaming.WindowStream(lambda w: whole.predict(w, None, False)[0],
                                                            whole.clip_samples),
                       f"{os.path.basename(path)} on the whole window", macs, quantized)


def _keras_labels(path, labels_path):
    """A run folder's labels, or those beside a .keras file (or --labels)."""
    candidate = labels_path or os.path.join(path if os.path.isdir(path) else os.path.dirname(path) or ".", "labels.txt")
    if not os.path.isfile(candidate):
        raise runtime.InputError(f"{candidate}: labels file not found (a .keras file needs labels.txt beside it, "
                             "or pass --labels)")
    return label_sets.read_labels(candidate)


def _keras(path, hop_samples, labels_path, full_window):
    import keras

    from kws.models import model as model_zoo  # also registers the custom layers
    from kws import runs
    from kws.export import stream_export

    if os.path.isdir(path):
        keras_model = runs.load_run(path)[0]
    else:
        keras_model = keras.models.load_model(path, compile=False)
    model_labels = _keras_labels(path, labels_path)
    if keras_model.output_shape[-1] != len(model_labels):
        raise runtime.InputError(f"{path}: the model has {keras_model.output_shape[-1]} outputs but its labels "
                             f"file lists {len(model_labels)}")
    split = None if full_window else stream_export.split_model(keras_model)
    if split is None:
        stream = streaming.WindowStream(lambda w: keras_model.predict_on_batch(w[None])[0],
                                        model_zoo.clip_samples_of(keras_model))
        return StreamModel(model_labels, stream, f"{path} (Keras) on the whole window")
    stream = streaming.FeatureStream(split.front_end.predict_on_batch,
                                     lambda f: split.classifier.predict_on_batch(f[None])[0], split.spec, hop_samples)
    return StreamModel(model_labels, stream, f"{path} (Keras) split into front end and classifier")


def is_spotter(path):
    """True for a spotter folder: a folder holding spotter.json."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, SPOTTER_FILE))


def target_key(fa_per_hour):
    """The key of a false-alarm target in spotter.json's "thresholds": "0.5", "1", "2", "5"."""
    return f"{float(fa_per_hour):g}"


def read_spotter(folder):
    """spotter.json of a spotter folder, checked, with "model_path" and "labels_path" added (inside the folder)."""
    path = os.path.join(folder, SPOTTER_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            spotter = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise runtime.InputError(f"{path}: cannot read the spotter ({e})") from e
    if not isinstance(spotter, dict) or spotter.get("format") != SPOTTER_FORMAT:
        raise runtime.InputError(f"{path}: not a spotter of make_spotter.py (format {SPOTTER_FORMAT})")
    problems = [key for key in (*SPOTTER_RULE_KEYS, "default_target_fa_per_hour")
                if not isinstance(spotter.get(key), (int, float))]
    thresholds = spotter.get("thresholds")
    if not isinstance(thresholds, dict) or not thresholds or not all(
            isinstance(t, dict) and all(isinstance(v, (int, float)) for v in t.values()) for t in thresholds.values()):
        problems.append("thresholds")
    for key in ("model", "labels"):
        name = spotter.get(key)
        if not isinstance(name, str) or os.path.basename(name) != name:
            problems.append(key)
        else:
            spotter[f"{key}_path"] = os.path.join(folder, name)
    if problems:
        raise runtime.InputError(f"{path}: missing or malformed {', '.join(problems)} (make_spotter.py writes it)")
    return spotter


def spotter_thresholds(spotter, fa_per_hour=None):
    """(target, {keyword: threshold}) of a spotter for a false-alarm rate (default: its default target)."""
    target = spotter["default_target_fa_per_hour"] if fa_per_hour is None else fa_per_hour
    thresholds = spotter["thresholds"].get(target_key(target))
    if thresholds is None:
        available = ", ".join(sorted(spotter["thresholds"], key=float))
        raise runtime.InputError(f"the spotter has no thresholds for {target:g} false alarms per hour; its targets: "
                             f"{available} (make_spotter.py --targets calibrates others)")
    return float(target), thresholds


def load_stream_model(path, hop_samples, num_threads=1, labels_path=None, full_window=False):
    """A StreamModel of a .tflite, .pb, .keras file, run folder or spotter folder (see the module docstring)."""
    if is_spotter(path):
        spotter = read_spotter(path)
        return load_stream_model(spotter["model_path"], hop_samples, num_threads,
                                 labels_path or spotter["labels_path"], full_window)
    if os.path.isdir(path) or path.endswith(".keras"):
        if not os.path.exists(path):
            raise runtime.InputError(f"{path}: no such model file")
        return _keras(path, hop_samples, labels_path, full_window)
    if path.endswith(".tflite"):
        if not os.path.isfile(path):
            raise runtime.InputError(f"{path}: no such model file")
        return _tflite(path, hop_samples, num_threads, labels_path, full_window)
    whole = runtime.load_model(path, num_threads)  # .pb, or a clear error for anything else
    model_labels = runtime.read_model_labels(labels_path or runtime.default_labels_path(path), whole.num_classes)
    return StreamModel(model_labels, streaming.WindowStream(lambda w: whole.predict(w, None, False)[0],
                                                            whole.clip_samples),
                       f"{os.path.basename(path)} (frozen graph) on the whole window")


# ---------------------------------------------------------------------------------------------------
# Spotting: the rule, the loop over a stream's hops, the detections written as found

def resolve_rule(model, labels=None, target_fa_per_hour=None, given=None):
    """(model path, labels path or None, rule {hop_ms, smooth_ms, min_hops, refractory_ms, thresholds,
    source}): a spotter folder's rule (at `target_fa_per_hour`, default its default target) or DEFAULT_RULE,
    with `given` {setting: value} on top of it (the flags given: SPOTTER_RULE_KEYS and "threshold")."""
    given = {key: value for key, value in (given or {}).items() if value is not None}
    if is_spotter(model):
        spotter = read_spotter(model)
        rule = {key: spotter[key] for key in SPOTTER_RULE_KEYS}
        target, rule["thresholds"] = spotter_thresholds(spotter, target_fa_per_hour)
        rule["source"] = f"{SPOTTER_FILE} at {target:g} false alarms per hour"
        model_path, labels_path = spotter["model_path"], labels or spotter["labels_path"]
    else:
        if target_fa_per_hour is not None:
            raise cli.UserError(f"--target_fa_per_hour: {model} is not a spotter folder (no "
                                f"{SPOTTER_FILE}; make_spotter.py writes one)")
        rule = {**DEFAULT_RULE, "source": "defaults"}
        rule["thresholds"] = rule.pop("threshold")
        model_path, labels_path = model, labels
    for key in (*SPOTTER_RULE_KEYS, "threshold"):
        if key in given:
            rule["thresholds" if key == "threshold" else key] = given[key]
    if given:
        rule["source"] += " and --" + ", --".join(key for key in (*SPOTTER_RULE_KEYS, "threshold") if key in given)
    hop_samples = rule["hop_ms"] * audio.SAMPLE_RATE / 1000
    if rule["hop_ms"] <= 0 or hop_samples != int(hop_samples):
        raise cli.UserError(f"--hop_ms must be a positive whole number of samples at {audio.SAMPLE_RATE} Hz, "
                            f"got {rule['hop_ms']}")
    return model_path, labels_path, rule


def hop_samples_of(rule):
    """Samples per hop of a rule (resolve_rule checked that hop_ms is a whole number of them)."""
    return round(rule["hop_ms"] * audio.SAMPLE_RATE / 1000)


class DetectionWriter:
    """CSV or JSON-lines rows, each flushed at once, to a file or standard output (`path` None or "-"),
    echoed to standard output with `echo`."""

    def __init__(self, path, as_json=False, echo=False):
        self.file = sys.stdout if path in (None, "-") else open(path, "w", encoding="utf-8", newline="")
        self.echo = echo and self.file is not sys.stdout
        self.as_json = as_json
        self.count = 0
        if not as_json:
            self._write("time_s,label,score\n")

    def _write(self, line):
        self.file.write(line)
        self.file.flush()
        if self.echo:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except BrokenPipeError:  # the reader of the echo went away (`| head`): keep writing the file
                self.echo = False
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (Python flushes stdout at exit)

    def add(self, time_s, label, score):
        if self.as_json:
            line = json.dumps({"time_s": round(time_s, 3), "label": label, "score": round(score, 4)}) + "\n"
        else:
            line = f"{time_s:.3f},{_csv_field(label)},{score:.4f}\n"
        self._write(line)
        self.count += 1

    def close(self):
        if self.file is not sys.stdout:
            self.file.close()


def _csv_field(text):
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def spot(blocks, model, detector, writer, hop_samples, tail_samples):
    """Runs the stream; returns {"hops", "audio_s", "model_s", "model_cpu_s", "total_s", "interrupted"}
    (also after a Ctrl-C): model_s is wall time inside the model, model_cpu_s the CPU time of this thread there."""
    stats = {"hops": 0, "audio_s": 0.0, "model_s": 0.0, "model_cpu_s": 0.0, "total_s": 0.0, "interrupted": False}
    started = time.perf_counter()
    try:
        for hop in streaming.hops(blocks, hop_samples, tail_samples):
            before, before_cpu = time.perf_counter(), time.thread_time()
            probs = model.stream.push(hop)
            stats["model_s"] += time.perf_counter() - before
            stats["model_cpu_s"] += time.thread_time() - before_cpu  # what other processes' load does not inflate
            stats["hops"] += 1
            time_s = stats["hops"] * hop_samples / audio.SAMPLE_RATE
            found = detector.update(time_s, probs)
            if found:
                writer.add(time_s, *found)
    except KeyboardInterrupt:
        stats["interrupted"] = True
    stats["total_s"] = time.perf_counter() - started
    stats["audio_s"] = stats["hops"] * hop_samples / audio.SAMPLE_RATE
    return stats


def spot_with_rule(model, rule, blocks, writer, tail_ms=None):
    """`spot` of the blocks with the detector of a rule (resolve_rule), `tail_ms` of silence after them
    (default: one window); its stats with "trace" (threshold 0: every hop written), "rule" and "window_samples"."""
    detector = streaming.Detector(model.labels, max(1, round(rule["smooth_ms"] / rule["hop_ms"])),
                                  rule["thresholds"], rule["refractory_ms"] / 1000, rule["min_hops"])
    stats = spot(blocks, model, detector, writer, hop_samples_of(rule), tail_samples(model, tail_ms))
    stats.update(trace=detector.trace, rule=rule, window_samples=model.stream.window_samples)
    return stats
