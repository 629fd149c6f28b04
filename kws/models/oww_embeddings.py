"""openWakeWord's pretrained speech embeddings as a front end, and a small head on them for your keywords.

A library (nothing runs at import; no command line) of custom_keywords.py `--front_end openwakeword`,
stream_models.py, runtime.py (make_submission_on_rpi.py) and benchmarks/custom_keywords.py:

    from kws.models import oww_embeddings as oww
    if not oww.available():
        print(oww.INSTALL_HINT)
    front_end = oww.EmbeddingFrontEnd(num_threads=1)
    x = front_end.embed_clips(clips)                  # [N, 16, 96] from 1 s float32 clips at 16 kHz
    head = oww.train_head(x, labels, num_classes=len(names), seed=0)             # Keras (TensorFlow)
    oww.export_head(head, names, "R/head/head")       # head.tflite, head_labels.txt, head_embeddings.json
    stream = oww.EmbeddingStream(front_end, oww.load_head("R/head/head.tflite"))  # numpy + a TFLite runtime
    probs = stream.push(hop)                          # each hop of live audio -> [classes]
    hop_probs, hop_ms = oww.stream_probabilities(front_end, head, samples)       # the same, offline

Reads two files inside the installed wheel `pyopen-wakeword` (PyPI, `pip install pyopen-wakeword`):
`pyopen_wakeword/models/melspectrogram.tflite` and `embedding_model.tflite` (openWakeWord's feature
models; `licence_note()` says what is known of their licence). They run in the TFLite runtime of
runtime.py (ai-edge-litert), not in the wheel's own ctypes loader, so neither the
wheel's Python code nor its bundled libtensorflowlite_c.so is executed; its wake word models
(alexa, hey_jarvis, ...: CC BY-NC-SA 4.0 upstream) are never opened. A head's files never hold the
feature models: they are read from the wheel where the head runs.

Framing, as openWakeWord computes it (pyopen_wakeword/openwakeword.py, openwakeword/utils.py):
samples at int16 scale -> log-mel frames of 32 bins, 512 samples long every 160 (10 ms), rescaled
by mel / 10 + 2 -> one 96-dim embedding per 76 frames (12512 samples, 782 ms) every 8 frames
(1280 samples, 80 ms). A head sees the last `window_embeddings` (16, as openWakeWord's heads) of
them: 31712 samples (1.98 s). A clip is placed at the end of that window after digital silence
(zeros); `stream_probabilities` and `EmbeddingStream` put a window of zeros before a stream, as
streaming.py does, and the window of a hop that ends where a clip ends holds exactly the embeddings
of the stream's last 1.98 s (what `clip_embeddings` gives for them). In a stream the 0.98 s before
a 1 s word hold whatever came before it, not zeros: `in_context` trains on clips placed after
other audio.

The head (`build_head`): openWakeWord's DNN (flatten, dense + layer norm + relu, one more such
block), with dropout, and a softmax over the caller's labels instead of openWakeWord's one sigmoid.
`export_head` writes it as a float TFLite file (0.2 M multiply-adds: the feature models, float
TFLite themselves, are ~99% of a hop's cost) with `N_labels.txt` and the marker `N_embeddings.json`
({"front_end": "openwakeword", "window_embeddings", "clip_samples", "hop_samples", "feature_models",
"package"}),
by which runtime.py (`is_embedding_head`; the file names are runtime.py's too), stream_models.py and
make_submission_on_rpi.py know that it runs on these embeddings.
"""

import importlib.util
import json
import math
import os

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.export import runtime

SAMPLE_RATE = audio.SAMPLE_RATE
MEL_FRAME_SAMPLES = 512  # measured: the mel model gives (n - 512) // 160 + 1 frames for n samples
MEL_STEP_SAMPLES = 160
MEL_BINS = 32
EMBEDDING_FRAMES = 76
EMBEDDING_STEP_FRAMES = 8
EMBEDDING_DIM = 96
EMBEDDING_HOP_SAMPLES = EMBEDDING_STEP_FRAMES * MEL_STEP_SAMPLES  # 1280: openWakeWord's natural hop, 80 ms
EMBEDDING_SPAN_SAMPLES = (EMBEDDING_FRAMES - 1) * MEL_STEP_SAMPLES + MEL_FRAME_SAMPLES  # 12512
WINDOW_EMBEDDINGS = 16  # openWakeWord's heads take 16 embeddings
INT16_SCALE = 32768.0  # the feature models take int16 sample values as float32
EMBEDDING_BATCH = 256  # windows per embedding-model call (no speed-up from batching: bounds memory)
FEATURE_MODELS = ("melspectrogram.tflite", "embedding_model.tflite")
PACKAGE = "pyopen_wakeword"
INSTALL_HINT = ("openWakeWord embeddings need the PyPI wheel pyopen-wakeword (numpy only, 7 MB, "
                "openWakeWord's feature models inside; see licence_note()): pip install pyopen-wakeword")
FRONT_END = "openwakeword"  # the marker's "front_end"


def models_dir():
    """The installed wheel's models folder, or None; found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "models")
    return folder if all(os.path.isfile(os.path.join(folder, name)) for name in FEATURE_MODELS) else None


def available():
    """True when pyopen-wakeword's two feature models are installed (a TFLite runtime is a requirement)."""
    return models_dir() is not None


def licence_note():
    """Which files this module uses and what is known, and verified, of their licences."""
    return (
        "Files used: pyopen_wakeword/models/melspectrogram.tflite and embedding_model.tflite from the PyPI "
        "wheel pyopen-wakeword (Michael Hansen, rhasspy), run in ai-edge-litert (Apache-2.0). Not used: the "
        "wheel's wake word models (alexa, hey_jarvis, hey_mycroft: CC BY-NC-SA 4.0 in openWakeWord; "
        "hey_rhasspy, okay_nabu: no licence stated), its Python code and its libtensorflowlite_c.so.\n"
        "Verified in the wheel: its metadata says License: Apache-2.0 and it holds one LICENSE file, the "
        "plain Apache-2.0 text with no copyright line and no NOTICE; no file states a licence per model, "
        "and the two .tflite files carry no licence or author metadata. The wheel is a repackaging: the "
        "feature models are openWakeWord's (dscripka/openWakeWord release v0.5.1; the embedding model has "
        "the release's byte size, 1330312).\n"
        "openWakeWord's README: its code is Apache-2.0 and 'all of the included pre-trained models' are "
        "CC BY-NC-SA 4.0 (training data of unknown licence); the same README says the embedding model is "
        "Google's speech_embedding (TFHub google/speech_embedding/1, Apache-2.0), re-implemented by hand "
        "in Keras with Google's weights, and that the melspectrogram model is an ONNX export of a "
        "fixed-parameter Torch mel function (no training). Whether the blanket CC BY-NC-SA sentence covers "
        "these two files is unresolved upstream: issues #313, #338, #346, #348 ask exactly that; no "
        "maintainer answer found. Either licence allows a non-commercial benchmark; before shipping a head on "
        "them (or commercial use), get that answer or rebuild both files from the Apache-2.0 sources "
        "(Google's speech_embedding, a mel front end)."
    )


def _run(interpreter, values):
    """The interpreter's output for `values`, its input resized (and reallocated) only when the shape changes."""
    detail = interpreter.get_input_details()[0]
    if tuple(detail["shape"]) != values.shape:
        interpreter.resize_tensor_input(detail["index"], list(values.shape), strict=False)
        interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], values)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def mel_frames(num_samples):
    """How many mel frames the mel model computes from `num_samples` samples."""
    return max(0, (num_samples - MEL_FRAME_SAMPLES) // MEL_STEP_SAMPLES + 1)


def embedding_count(num_samples):
    """How many embeddings `num_samples` samples complete (one every 80 ms once the first 782 ms are in)."""
    return max(0, (mel_frames(num_samples) - EMBEDDING_FRAMES) // EMBEDDING_STEP_FRAMES + 1)


def window_samples(window_embeddings=WINDOW_EMBEDDINGS):
    """The samples that `window_embeddings` consecutive embeddings cover: 31712 (1.98 s) for 16."""
    return EMBEDDING_SPAN_SAMPLES + (window_embeddings - 1) * EMBEDDING_HOP_SAMPLES


def to_int16_scale(samples):
    """float32 samples in [-1, 1] as the int16 values, in float32, that the feature models take."""
    return np.clip(np.round(np.asarray(samples, np.float32) * INT16_SCALE), -32768, 32767).astype(np.float32)


class EmbeddingFrontEnd:
    """openWakeWord's mel and embedding models, from the installed wheel, on float32 audio at 16 kHz."""

    def __init__(self, num_threads=1, window_embeddings=WINDOW_EMBEDDINGS):
        folder = models_dir()
        if folder is None:
            raise RuntimeError(INSTALL_HINT)
        interpreter = runtime.load_interpreter_class()
        self.mel_model = interpreter(os.path.join(folder, FEATURE_MODELS[0]), num_threads=num_threads)
        self.embedding_model = interpreter(os.path.join(folder, FEATURE_MODELS[1]), num_threads=num_threads)
        # _run allocates only when a shape changes; the mel model's first call (below) always does
        self.embedding_model.allocate_tensors()
        self.window_embeddings = int(window_embeddings)
        self.window_samples = window_samples(self.window_embeddings)
        frames = self._mels(np.zeros((1, self.window_samples), np.float32)).shape[1]
        if frames != mel_frames(self.window_samples):  # another wheel version framing otherwise
            raise RuntimeError(f"{folder}: the mel model gave {frames} frames for {self.window_samples} samples, "
                               f"expected {mel_frames(self.window_samples)}; this module's framing needs updating")

    def _mels(self, batch):
        """[B, frames, 32] of int16-scale audio [B, samples], transformed as openWakeWord does."""
        return _run(self.mel_model, np.ascontiguousarray(batch, np.float32))[:, 0] / 10.0 + 2.0

    def _embed(self, windows):
        """[N, 96] of mel windows [N, 76, 32], EMBEDDING_BATCH at a time."""
        out = [_run(self.embedding_model, np.ascontiguousarray(windows[i:i + EMBEDDING_BATCH, :, :, None]))
               for i in range(0, len(windows), EMBEDDING_BATCH)]
        return np.concatenate(out).reshape(len(windows), EMBEDDING_DIM) if out else np.zeros((0, EMBEDDING_DIM),
                                                                                               np.float32)

    @staticmethod
    def _windows(mels):
        """[N, 76, 32]: the embedding model's inputs in mel frames [frames, 32], every 8 frames."""
        if len(mels) < EMBEDDING_FRAMES:
            return np.zeros((0, EMBEDDING_FRAMES, MEL_BINS), np.float32)
        view = np.lib.stride_tricks.sliding_window_view(mels, EMBEDDING_FRAMES, axis=0)[::EMBEDDING_STEP_FRAMES]
        return view.transpose(0, 2, 1)

    def _fit_window(self, clip):
        """A clip at the end of one window, after zeros (or its last window's worth of samples)."""
        clip = to_int16_scale(clip)[-self.window_samples:]
        return np.concatenate([np.zeros(self.window_samples - len(clip), np.float32), clip])

    def clip_embeddings(self, samples):
        """float32 [window_embeddings, 96]: the embeddings of a clip (float32 at 16 kHz) placed at the end
        of a window after zeros; a clip longer than the window keeps its last window_samples."""
        return self.embed_clips([samples])[0]

    def embed_clips(self, clips, batch_clips=16):
        """float32 [N, window_embeddings, 96]: `clip_embeddings` of every clip, `batch_clips` per embedding
        model call. The mel model runs on one clip at a time: its log floor is relative to the loudest
        frame of the whole call (EmbeddingStream), so a batch would make a clip's quiet frames depend on
        the clips beside it."""
        out = np.zeros((len(clips), self.window_embeddings, EMBEDDING_DIM), np.float32)
        for start in range(0, len(clips), batch_clips):
            batch = [self._fit_window(clip) for clip in clips[start:start + batch_clips]]
            windows = np.concatenate([self._windows(self._mels(window[None])[0]) for window in batch])
            out[start:start + len(batch)] = self._embed(windows).reshape(len(batch), self.window_embeddings,
                                                                         EMBEDDING_DIM)
        return out


def in_context(clips, window_samples, rng, context_probability=0.7, pool=None):
    """Each clip at the end of `window_samples`, after zeros or (with `context_probability`) the end of
    two clips of `pool` (default: the list itself) at a random gain: what a stream puts before a word,
    where a head trained on clips after zeros only ever saw digital silence."""
    pool = clips if pool is None else pool
    placed = []
    for clip in clips:
        before = max(0, window_samples - len(clip))
        context = np.zeros(before, np.float32)
        if before > 0 and rng.random() < context_probability:
            pair = np.concatenate([pool[rng.integers(len(pool))], pool[rng.integers(len(pool))]])
            context[-min(before, len(pair)):] = pair[-before:] * rng.uniform(0.0, 1.0)
        placed.append(np.concatenate([context, np.asarray(clip, np.float32)])[-window_samples:])
    return placed


UNKNOWN_CLIPS, SILENCE_CLIPS = 3000, 500  # of a synthetic corpus: enough negatives, ~1.5 min to embed on 2 cores


def training_clips(train_dir, words, seed, unknown_clips=UNKNOWN_CLIPS, silence_clips=SILENCE_CLIPS,
                   split="training", extra_noise=(), clip_samples=None):
    """(clips, label indexes of labels.model_labels(words)) of a split of a corpus folder, each of
    `clip_samples` (default: audio.CLIP_SAMPLES): every keyword clip, `unknown_clips` of the other words
    drawn from the seed, and `silence_clips` slices of its noise files and `extra_noise` (paths) at
    log-uniform levels (1e-3..1 RMS) as silence."""
    model_labels = label_sets.model_labels(words)
    clip_samples = clip_samples or audio.CLIP_SAMPLES
    rng = np.random.default_rng(seed)
    folder = corpus.index_folder(train_dir)
    training = [(path, word) for _, path, word, clip_split in folder.clips if clip_split == split]
    keywords = [(p, w) for p, w in training if w in words]
    others = [training[i] for i in rng.permutation(len(training)) if training[i][1] not in words][:unknown_clips]
    clips = [audio.load_clip(p, clip_samples) for p, _ in keywords + others]
    labels = [model_labels.index(w) for _, w in keywords] + [model_labels.index(label_sets.UNKNOWN_LABEL)] * len(others)
    noises = [audio.read_wav(p) for p in [*folder.noise_paths, *extra_noise]]
    for _ in range(silence_clips if noises else 0):
        noise = noises[rng.integers(len(noises))]
        start = rng.integers(max(1, len(noise) - clip_samples))
        piece = audio.fit_clip(noise[start:start + clip_samples], clip_samples)
        clips.append(piece * 10 ** rng.uniform(-3, 0) / max(np.sqrt(np.mean(piece ** 2)), 1e-6))
        labels.append(model_labels.index(label_sets.SILENCE_LABEL))
    return clips, labels


def build_head(num_classes, window_embeddings=WINDOW_EMBEDDINGS, layer_dim=128, dropout_rate=0.5):
    """openWakeWord's DNN head (openwakeword/train.py, n_blocks=1) with dropout and a softmax:
    [window_embeddings, 96] -> flatten -> (dense, layer norm, relu, dropout) x 2 -> dense softmax."""
    import keras  # TensorFlow only when a head is built
    inputs = keras.Input((window_embeddings, EMBEDDING_DIM), name="embeddings")
    x = keras.layers.Flatten()(inputs)
    for block in range(2):
        x = keras.layers.Dense(layer_dim, name=f"dense_{block}")(x)
        x = keras.layers.LayerNormalization(name=f"layer_norm_{block}")(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Dropout(dropout_rate)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="oww_head")


def balanced_weights(labels, num_classes, sample_weights=None):
    """float64 [N]: per-sample training weights that give every class present the same total weight;
    within a class they keep the proportions of `sample_weights` (default: all equal)."""
    labels = np.asarray(labels)
    weights = np.ones(len(labels)) if sample_weights is None else np.asarray(sample_weights, np.float64).copy()
    present = [c for c in range(num_classes) if np.any(labels == c)]
    for c in present:
        weights[labels == c] *= len(labels) / (len(present) * weights[labels == c].sum())
    return weights


def train_head(embeddings, labels, num_classes, seed, epochs=40, batch_size=64, learning_rate=1e-3,
               layer_dim=128, dropout_rate=0.5, sample_weights=None):
    """A `build_head` model fitted to embeddings [N, T, 96] and int labels [N] with class-balanced
    weights (`balanced_weights`, within a class in the proportions of `sample_weights`; Adam,
    cross-entropy); the same seed gives the same weights (keras.utils.set_random_seed: it also seeds
    Python's and numpy's global generators). `head.predict(x)` gives [N, classes]."""
    import keras
    embeddings = np.asarray(embeddings, np.float32)
    labels = np.asarray(labels, np.int64)
    if embeddings.ndim != 3 or embeddings.shape[2] != EMBEDDING_DIM or len(embeddings) != len(labels):
        raise ValueError(f"train_head takes embeddings [N, T, {EMBEDDING_DIM}] and N labels, "
                         f"got {embeddings.shape} and {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    keras.utils.set_random_seed(seed)
    head = build_head(num_classes, embeddings.shape[1], layer_dim, dropout_rate)
    head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"])
    head.fit(embeddings, labels, batch_size=batch_size, epochs=epochs, shuffle=True,
             sample_weight=balanced_weights(labels, num_classes, sample_weights), verbose=0)
    return head


def stream_probabilities(front_end, head, samples, hop_samples=EMBEDDING_HOP_SAMPLES, tail_samples=0):
    """(float32 [hops, classes], hop_ms): a Keras head's probabilities at every hop of a stream (float32
    at 16 kHz), as spot_keywords.py computes them live (EmbeddingStream): hop k (from 0) ends at sample
    (k + 1) * hop_samples, the last partial one and `tail_samples` padded with zeros (streaming.hops),
    after a window of zeros. For streaming.trace_of(probs, labels, smooth_hops, hop_ms / 1000)."""
    if hop_samples <= 0:
        raise ValueError(f"hop_samples must be positive, got {hop_samples}")
    samples = np.asarray(samples, np.float32)
    hops = math.ceil((len(samples) + tail_samples) / hop_samples)
    padded = np.concatenate([samples, np.zeros(hops * hop_samples - len(samples), np.float32)])
    stream = EmbeddingStream(front_end, lambda x: head.predict_on_batch(x)[0])
    probs = [stream.push(padded[k * hop_samples:(k + 1) * hop_samples]) for k in range(hops)]
    return np.array(probs, np.float32).reshape(hops, -1), hop_samples * 1000.0 / SAMPLE_RATE


def stream_windows(front_end, samples, every=1):
    """float32 [N, window_embeddings, 96]: what a head sees at every `every`-th hop of a stream (float32 at
    16 kHz), as EmbeddingStream computes it live (a window of zeros before the stream, none after)."""
    windows = []
    stream = EmbeddingStream(front_end, lambda x: windows.append(x[0]) or ())
    samples = np.asarray(samples, np.float32)
    for k in range(len(samples) // EMBEDDING_HOP_SAMPLES):
        stream.push(samples[k * EMBEDDING_HOP_SAMPLES:(k + 1) * EMBEDDING_HOP_SAMPLES])
        if k % every:
            windows.pop()
    return np.array(windows, np.float32).reshape(-1, front_end.window_embeddings, EMBEDDING_DIM)


class EmbeddingStream:
    """Per-hop probabilities of a head on live audio, with streaming.WindowStream's `push`: each hop
    (float32 samples at 16 kHz, any length) adds its mel frames and every embedding they complete,
    and the head sees the last window_embeddings (a window of zeros comes before the stream).

    The mel model's log floor is relative to the loudest frame of each call (a top-dB clamp), so a
    frame far below its neighbours (digital silence) depends on what it is computed with: here the
    frames of each hop, with openWakeWord's live framing; `clip_embeddings` computes a clip's window in
    one call, as openWakeWord's training does. They agree wherever no frame is ~80 dB below the rest."""

    def __init__(self, front_end, head_function, clip_samples=None):
        self.front_end, self.head_function = front_end, head_function
        # what streaming's windows call window_samples: the clip the head was trained on (the tail after
        # a stream's end is one of them); the embeddings' own window is front_end.window_samples
        self.window_samples = clip_samples or audio.CLIP_SAMPLES
        self._samples = np.zeros(0, np.float32)  # int16 scale, from the first sample of the next mel frame
        self._mels = np.zeros((0, MEL_BINS), np.float32)
        self._first_frame = 0  # stream index of self._mels[0]
        self._next_embedding = 0
        self._embeddings = []
        self._add(to_int16_scale(np.zeros(front_end.window_samples, np.float32)))

    def _add(self, scaled):
        self._samples = np.concatenate([self._samples, scaled])
        count = mel_frames(len(self._samples))
        if not count:
            return
        new = self.front_end._mels(self._samples[None, :(count - 1) * MEL_STEP_SAMPLES + MEL_FRAME_SAMPLES])[0]
        self._samples = self._samples[count * MEL_STEP_SAMPLES:]
        self._mels = np.concatenate([self._mels, new])
        while EMBEDDING_STEP_FRAMES * self._next_embedding + EMBEDDING_FRAMES <= self._first_frame + len(self._mels):
            start = EMBEDDING_STEP_FRAMES * self._next_embedding - self._first_frame
            self._embeddings.append(self.front_end._embed(self._mels[None, start:start + EMBEDDING_FRAMES])[0])
            self._next_embedding += 1
        keep = EMBEDDING_STEP_FRAMES * self._next_embedding - self._first_frame  # frames no embedding needs
        self._mels, self._first_frame = self._mels[keep:], self._first_frame + keep
        self._embeddings = self._embeddings[-self.front_end.window_embeddings:]

    def push(self, hop):
        self._add(to_int16_scale(hop))
        return np.asarray(self.head_function(np.stack(self._embeddings)[None]), np.float32).reshape(-1)


# ---------------------------------------------------------------------------------------------------
# A head's files: N.tflite, N_labels.txt, N_embeddings.json

def export_head(head, model_labels, stem, clip_samples=None):
    """Writes stem.tflite (float32 [1, window_embeddings, 96] -> [1, classes]), stem_labels.txt and the
    marker stem_embeddings.json (with `clip_samples`, the length of the clips it was trained on; default
    audio.CLIP_SAMPLES), each atomically (TensorFlow); returns {"model", "labels", "marker"}."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from kws.export import stream_export  # TensorFlow's converter, as every export of the project calls it

    window = head.input_shape[1]

    @tf.function(input_signature=[tf.TensorSpec([1, window, EMBEDDING_DIM], tf.float32, name="embeddings")])
    def probabilities(x):
        return head(x, training=False)

    # frozen first (as freeze_graph.py does): live resource-variable reads run uninitialised in TFLite
    frozen = convert_variables_to_constants_v2(probabilities.get_concrete_function())
    flatbuffer = stream_export.tflite_converter(frozen).convert()
    names = runtime.export_paths(stem)
    paths = {"model": names["tflite"], "labels": names["labels"], "marker": runtime.head_marker_path(names["tflite"])}
    cli.write_bytes(paths["model"], flatbuffer)
    cli.write_text(paths["labels"], "".join(f"{label}\n" for label in model_labels))
    cli.write_text(paths["marker"], json.dumps({"front_end": FRONT_END, "window_embeddings": window,
                                                "clip_samples": clip_samples or audio.CLIP_SAMPLES,
                                                "hop_samples": EMBEDDING_HOP_SAMPLES,
                                                "feature_models": list(FEATURE_MODELS), "package": PACKAGE},
                                               indent=2) + "\n")
    return paths


def read_marker(model_path):
    """The checked marker of a head; an error names the file and what is wrong."""
    path = runtime.head_marker_path(model_path)
    try:
        with open(path, encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the head's marker ({e})") from e
    if not isinstance(marker, dict) or marker.get("front_end") != FRONT_END \
            or not all(isinstance(marker.get(key), int) for key in ("window_embeddings", "clip_samples")):
        raise ValueError(f"{path}: not a marker of oww_embeddings.export_head (front_end {FRONT_END!r}, "
                         "integer window_embeddings and clip_samples)")
    return marker


def load_head(model_path, num_threads=1):
    """The head .tflite as a function: float32 [1, window, 96] -> probabilities [classes] (a TFLite runtime)."""
    interpreter = runtime.load_interpreter_class()(model_path=model_path, num_threads=num_threads)
    interpreter.allocate_tensors()

    def head_function(x):
        return _run(interpreter, np.ascontiguousarray(x, np.float32))[0]

    head_function.num_classes = int(interpreter.get_output_details()[0]["shape"][-1])
    return head_function
