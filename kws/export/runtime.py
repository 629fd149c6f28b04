"""The numpy-only model runtime: the exported files' names, their loaders, the Pi path's WAV reader.

A library (nothing runs at import; no command line) of make_submission_on_rpi.py, spot_keywords.py,
stream_models.py, benchmark_model.py, make_spotter.py and oww_embeddings.py, and the one place that
names what freeze_graph.py writes:

    model = runtime.load_model("tf_files/N_int8.tflite", num_threads=1)   # .tflite, or .pb (TensorFlow)
    labels = runtime.read_model_labels(runtime.default_labels_path(path), model.num_classes)
    samples, plain = runtime.read_clip(wav_bytes, "clip.wav", model.clip_samples)
    probs, seconds = model.predict(samples, wav_bytes, plain)

Export names (`export_paths`): the prefix `tf_files/N` gives `N.pb`, `N.tflite`, `N_int8.tflite`,
`N_labels.txt` (shared by the three), `N_report.json` and, for the streaming export,
`N_features.tflite`, `N_classifier.tflite`, `N_classifier_int8.tflite` and `N_streaming.json`; a head
on openWakeWord's embeddings is `N.tflite` with the marker `N_embeddings.json` (oww_embeddings.py).
The frozen graph's tensor names are a contract (WAV_DATA, DECODED_SAMPLE_DATA, LABELS_SOFTMAX):
`wav_data:0` takes a WAV file's bytes, `decoded_sample_data:0` the samples [S, 1] (S: the model's clip
length), `labels_softmax:0` gives the probabilities [1, C].

Reads model files (`.tflite`, `.pb`, a head's marker), labels files and WAV bytes; writes nothing.
Imports numpy, the standard library and the project's numpy-only modules at import; a TFLite runtime
(`ai_edge_litert`, else `tflite_runtime`, else TensorFlow's `tf.lite`) when a `.tflite` is loaded,
TensorFlow only for a `.pb`, oww_embeddings.py only for a head on its embeddings.

The Raspberry Pi 3 estimate (`pi3_ms`, PI3_ASSUMPTION) turns multiply-adds (`tflite_graph_stats`)
into milliseconds for benchmark_model.py and stream_models.py.
"""

import math
import os
import struct
import time

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import labels as label_sets

# The frozen graph's tensor names (freeze_graph.py writes them, the loaders below read them)
WAV_DATA = "wav_data"
DECODED_SAMPLE_DATA = "decoded_sample_data"
LABELS_SOFTMAX = "labels_softmax"
INT8_SUFFIX = "_int8"  # N_int8.tflite is the int8 twin of N.tflite; both share N_labels.txt
EMBEDDINGS_MARKER_SUFFIX = "_embeddings.json"  # beside a head N.tflite on openWakeWord's embeddings

PI3_FLOAT_MACS_PER_S = 1.0e9
PI3_INT8_SPEEDUP = 2.0
PI3_ASSUMPTION = (
    "assumption, not a measurement: ~1 GMAC/s effective float32 on a Pi 3 (4 Cortex-A53 cores at 1.2 GHz, "
    "TFLite with XNNPACK), about 10% of the NEON peak of 9.6 GMAC/s (4 cores x 1.2 GHz x 2 fp32 FMAs per "
    "cycle) that batch-1 convolutions on short 1-D inputs reach; int8 kernels taken as 2x faster; the same figure "
    "is applied to a .pb, whose TensorFlow kernels are usually slower. Cross-check: the prize-winning Pi model, "
    "which the `pi` model re-creates (33 M multiply-adds here), ran in 58 ms on a Pi 3 with TensorFlow 1.x, "
    "about 0.6 GMAC/s"
)

_PCM, _PCM16_BYTES = 1, 2


class InputError(cli.UserError):
    """Unusable input (model, labels, test folder, journal); the message names the file and problem."""


# ---------------------------------------------------------------------------------------------------
# Names of the exported files

def export_paths(prefix):
    """{kind: path} of the files freeze_graph.py writes for the prefix `tf_files/N`."""
    return {"pb": f"{prefix}.pb", "tflite": f"{prefix}.tflite", "int8": f"{prefix}{INT8_SUFFIX}.tflite",
            "labels": f"{prefix}_labels.txt", "report": f"{prefix}_report.json",
            "features": f"{prefix}_features.tflite", "classifier": f"{prefix}_classifier.tflite",
            "classifier_int8": f"{prefix}_classifier{INT8_SUFFIX}.tflite", "streaming": f"{prefix}_streaming.json"}


def export_prefix(model_path):
    """tf_files/N for tf_files/N.tflite, N_int8.tflite and N.pb."""
    return os.path.splitext(model_path)[0].removesuffix(INT8_SUFFIX)


def is_int8(model_path):
    """True for an N_int8.tflite (by its name)."""
    return os.path.splitext(model_path)[0].endswith(INT8_SUFFIX)


def default_labels_path(model_path):
    """tf_files/N_labels.txt for tf_files/N.tflite, N_int8.tflite and N.pb."""
    return export_paths(export_prefix(model_path))["labels"]


def streaming_files(model_path):
    """{"spec", "front_end", "classifier"} paths of the streaming export of `N.tflite` / `N_int8.tflite`
    (the int8 classifier for the int8 model)."""
    paths = export_paths(export_prefix(model_path))
    return {"spec": paths["streaming"], "front_end": paths["features"],
            "classifier": paths["classifier_int8" if is_int8(model_path) else "classifier"]}


def head_marker_path(model_path):
    """N_embeddings.json beside a head N.tflite (oww_embeddings.export_head)."""
    return os.path.splitext(model_path)[0] + EMBEDDINGS_MARKER_SUFFIX


def is_embedding_head(model_path):
    """True for a .tflite with the marker of oww_embeddings.export_head beside it."""
    return os.path.isfile(head_marker_path(model_path))


# ---------------------------------------------------------------------------------------------------
# The Pi path's WAV reader

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


# ---------------------------------------------------------------------------------------------------
# Loaders: every model has clip_samples, num_classes and predict(samples, wav bytes, plain) ->
# (probabilities, seconds inside the model)

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
        from kws.models import oww_embeddings as oww  # numpy only too, but it imports this module: only for a head

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
                graph.get_tensor_by_name(f"{name}:0") for name in (WAV_DATA, DECODED_SAMPLE_DATA, LABELS_SOFTMAX))
        except KeyError as e:
            raise InputError(f"{path}: not a freeze_graph.py graph ({e})") from e
        decoded = self.decoded.shape.as_list() if self.decoded.shape.rank is not None else None
        if self.softmax.shape.rank != 2 or decoded is None or len(decoded) != 2 or decoded[1] != 1 \
                or not decoded[0]:
            raise InputError(f"{path}: expected {DECODED_SAMPLE_DATA} [S, 1] (S samples: {audio.CLIP_SAMPLES} "
                             f"for 1 s) and {LABELS_SOFTMAX} [1, C]; the graph has {self.decoded.shape} and "
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
    """A TfliteModel, EmbeddingHeadModel or FrozenGraphModel by the file's kind; InputError otherwise."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such model file")
    if path.endswith(".tflite"):
        return EmbeddingHeadModel(path, num_threads) if is_embedding_head(path) else TfliteModel(path, num_threads)
    if path.endswith(".pb"):
        return FrozenGraphModel(path, num_threads)
    raise InputError(f"{path}: unknown kind of model file (expected .tflite or a frozen GraphDef .pb)")


def read_model_labels(path, num_classes):
    """The labels of a labels file, checked to number the model's `num_classes` outputs."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: labels file not found (freeze_graph.py writes it beside the model; "
                         "or pass --labels)")
    model_labels = label_sets.read_labels(path)
    if len(model_labels) != num_classes:
        raise InputError(f"{path}: {len(model_labels)} labels, but the model has {num_classes} outputs")
    return model_labels


# ---------------------------------------------------------------------------------------------------
# What a model costs: multiply-adds of a .tflite and the Raspberry Pi 3 estimate from them

def pi3_ms(float_macs, int8_macs=0):
    """Raspberry Pi 3 estimate in ms of `float_macs` multiply-adds in float kernels and `int8_macs` in
    int8 ones (PI3_ASSUMPTION)."""
    return 1e3 * (float_macs / PI3_FLOAT_MACS_PER_S + int8_macs / (PI3_FLOAT_MACS_PER_S * PI3_INT8_SPEEDUP))


def elements(shape):
    """The number of elements of a tensor of `shape`."""
    return int(math.prod(int(d) for d in shape))


def _tflite_schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as schema
        except ImportError:
            raise InputError("counting weights and multiply-adds of a .tflite needs the flatbuffer schema "
                             "of ai-edge-litert or tensorflow (tflite-runtime has none)") from None
    return schema


def tflite_graph_stats(content):
    """{"parameters", "macs", "macs_by_op", "quantized"} of a TFLite flatbuffer (benchmark_model.py's
    docstring says what is counted)."""
    schema = _tflite_schema()
    model = schema.Model.GetRootAs(content, 0)
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    tensors = [graph.Tensors(i) for i in range(graph.TensorsLength())]
    shapes = [tuple(t.ShapeAsNumpy()) if t.ShapeLength() else () for t in tensors]

    def is_constant(i):
        buffer = model.Buffers(tensors[i].Buffer())
        return buffer is not None and (buffer.DataLength() > 0 or buffer.Offset() > 0)

    weights, macs_by_op = set(), {}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        inputs, out_elements = op.InputsAsNumpy(), elements(shapes[op.OutputsAsNumpy()[0]])
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(inputs) > 2 and inputs[2] >= 0:
            weights.add(int(inputs[2]))  # the (int32 when quantised) bias
        if name == "CONV_2D":  # filter [out, h, w, in]
            macs = out_elements * elements(shapes[inputs[1]][1:])
        elif name == "DEPTHWISE_CONV_2D":  # filter [1, h, w, channels]
            macs = out_elements * elements(shapes[inputs[1]][1:3])
        elif name == "FULLY_CONNECTED":  # weights [units, inputs]
            macs = out_elements * int(shapes[inputs[1]][-1])
        elif name == "BATCH_MATMUL":
            options = schema.BatchMatMulOptions()
            options.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            macs = out_elements * int(shapes[inputs[0]][-2 if options.AdjX() else -1])
        else:
            continue
        macs_by_op[name] = macs_by_op.get(name, 0) + macs
    integer_types = (schema.TensorType.INT32, schema.TensorType.INT64)
    parameters = sum(elements(shapes[i]) for i in range(len(tensors))
                     if is_constant(i) and shapes[i] and (tensors[i].Type() not in integer_types or i in weights))
    quantized = any(tensors[i].Type() == schema.TensorType.INT8 and is_constant(i) for i in range(len(tensors)))
    return {"parameters": parameters, "macs": sum(macs_by_op.values()), "macs_by_op": macs_by_op,
            "quantized": quantized}
