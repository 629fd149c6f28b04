"""A Keras head on openWakeWord's speech embeddings: a pretrained front end, against training from scratch.

A library for benchmarks/custom_keywords.py (nothing runs at import; no command line):

    import oww_head                                   # from benchmarks/ (or with it on sys.path)
    if not oww_head.available():
        print(oww_head.INSTALL_HINT)
    front_end = oww_head.EmbeddingFrontEnd(num_threads=1)
    x = front_end.embed_clips(clips)                  # [N, 16, 96] from 1 s float32 clips at 16 kHz
    head = oww_head.train_head(x, labels, num_classes=len(names), seed=0)
    probs = head.predict(front_end.embed_clips(eval_clips), verbose=0)           # [N, classes]
    hop_probs, hop_ms = oww_head.stream_probabilities(front_end, head, stream)   # [hops, classes]

Reads two files inside the installed wheel `pyopen-wakeword` (PyPI, `pip install pyopen-wakeword`):
`pyopen_wakeword/models/melspectrogram.tflite` and `embedding_model.tflite` (openWakeWord's feature
models; `licence_note()` says what is known of their licence). They run in ai-edge-litert's
Interpreter (requirements.txt), not in the wheel's own ctypes loader, so neither the wheel's Python
code nor its bundled libtensorflowlite_c.so is executed; its wake word models (alexa, hey_jarvis,
...: CC BY-NC-SA 4.0 upstream) are never opened. Writes nothing.

Framing, as openWakeWord computes it (pyopen_wakeword/openwakeword.py, openwakeword/utils.py):
samples at int16 scale -> log-mel frames of 32 bins, 512 samples long every 160 (10 ms), rescaled
by mel / 10 + 2 -> one 96-dim embedding per 76 frames (12512 samples, 782 ms) every 8 frames
(1280 samples, 80 ms). A head sees the last `window_embeddings` (16, as openWakeWord's heads) of
them: 31712 samples (1.98 s). A clip is placed at the end of that window after digital silence
(zeros); `stream_probabilities` puts a window of zeros before a stream, as streaming.py does, and
the window of a hop that ends where a clip ends holds exactly the embeddings of the stream's last
1.98 s (what `clip_embeddings` gives for them). In a stream the 0.98 s before a 1 s word hold
whatever came before it, not zeros: a caller can train on clips with audio before them.

The head (`build_head`): openWakeWord's DNN (flatten, dense + layer norm + relu, one more such
block), with dropout, and a softmax over the caller's labels instead of openWakeWord's one sigmoid.
"""

import importlib.util
import math
import os
import time

import numpy as np

SAMPLE_RATE = 16000
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
MEL_BLOCK_FRAMES = 1000  # a stream's mel frames are computed 10 s at a time (framewise: exact)
EMBEDDING_BATCH = 256  # windows per embedding-model call (no speed-up from batching: bounds memory)
PREDICT_HOPS = 4096  # hop windows per head call in stream_probabilities (4096 x 16 x 96 floats = 25 MB)
FEATURE_MODELS = ("melspectrogram.tflite", "embedding_model.tflite")
PACKAGE = "pyopen_wakeword"
INSTALL_HINT = ("openWakeWord embeddings need the PyPI wheel pyopen-wakeword (numpy only, 7 MB, "
                "openWakeWord's feature models inside; see licence_note()): .venv/bin/pip install pyopen-wakeword")


def models_dir():
    """The installed wheel's models folder, or None; found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "models")
    return folder if all(os.path.isfile(os.path.join(folder, name)) for name in FEATURE_MODELS) else None


def available():
    """True when pyopen-wakeword's two feature models and ai-edge-litert are installed."""
    return models_dir() is not None and importlib.util.find_spec("ai_edge_litert") is not None


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
    """How many embeddings `stream_embeddings` gives for `num_samples` samples (one every 80 ms)."""
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
        from ai_edge_litert.interpreter import Interpreter  # only with the package: available() is cheap
        self.mel_model = Interpreter(os.path.join(folder, FEATURE_MODELS[0]), num_threads=num_threads)
        self.embedding_model = Interpreter(os.path.join(folder, FEATURE_MODELS[1]), num_threads=num_threads)
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
        """float32 [N, window_embeddings, 96]: `clip_embeddings` of every clip, `batch_clips` per model call."""
        out = np.zeros((len(clips), self.window_embeddings, EMBEDDING_DIM), np.float32)
        for start in range(0, len(clips), batch_clips):
            batch = np.stack([self._fit_window(clip) for clip in clips[start:start + batch_clips]])
            windows = np.concatenate([self._windows(mels) for mels in self._mels(batch)])
            out[start:start + len(batch)] = self._embed(windows).reshape(len(batch), self.window_embeddings,
                                                                         EMBEDDING_DIM)
        return out

    def stream_embeddings(self, samples):
        """float32 [embedding_count(len(samples)), 96]: embedding j covers samples [1280 j, 1280 j + 12512)
        of `samples` (float32 at 16 kHz, no padding added): one every 80 ms."""
        audio = to_int16_scale(samples)
        total = mel_frames(len(audio))
        block = (MEL_BLOCK_FRAMES - 1) * MEL_STEP_SAMPLES + MEL_FRAME_SAMPLES
        mels = np.zeros((total, MEL_BINS), np.float32)
        for first in range(0, total, MEL_BLOCK_FRAMES):
            chunk = audio[first * MEL_STEP_SAMPLES:first * MEL_STEP_SAMPLES + block]
            chunk = np.concatenate([chunk, np.zeros(block - len(chunk), np.float32)])  # one input size
            count = min(MEL_BLOCK_FRAMES, total - first)  # frames that lie wholly inside the audio
            mels[first:first + count] = self._mels(chunk[None])[0, :count]
        return self._embed(self._windows(mels))


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


def class_weights(labels, num_classes):
    """{class: weight} that gives every class present the same total weight (absent classes: 1)."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes)
    present = max(1, int((counts > 0).sum()))
    return {c: (len(labels) / (present * counts[c]) if counts[c] else 1.0) for c in range(num_classes)}


def train_head(embeddings, labels, num_classes, seed, epochs=40, batch_size=64, learning_rate=1e-3,
               layer_dim=128, dropout_rate=0.5):
    """A `build_head` model fitted to embeddings [N, T, 96] and int labels [N] with class-balanced
    weights (Adam, cross-entropy); the same seed gives the same weights (keras.utils.set_random_seed:
    it also seeds Python's and numpy's global generators). `head.predict(x)` gives [N, classes]."""
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
             class_weight=class_weights(labels, num_classes), verbose=0)
    return head


def stream_probabilities(front_end, head, samples, hop_samples=EMBEDDING_HOP_SAMPLES, tail_samples=0):
    """(float32 [hops, classes], hop_ms): the head's probabilities at every hop of a stream (float32 at
    16 kHz), in the form spot_keywords.py and make_spotter.stream_probabilities give them.

    Hop k (from 0) ends at sample (k + 1) * hop_samples; there are ceil((len + tail_samples) / hop)
    hops, the last partial one and `tail_samples` padded with zeros, as streaming.hops cuts them, and a
    window of zeros precedes the stream. Each hop's window is the last window_embeddings embeddings
    complete at its end: exactly the last 1.98 s when the hop is a multiple of 80 ms, otherwise up to
    80 ms earlier. For streaming.trace_of(probs, labels, smooth_hops, hop_ms / 1000) and
    score_streaming.evaluate.
    """
    if hop_samples <= 0:
        raise ValueError(f"hop_samples must be positive, got {hop_samples}")
    samples = np.asarray(samples, np.float32)
    hops = math.ceil((len(samples) + tail_samples) / hop_samples)
    padded = np.concatenate([np.zeros(front_end.window_samples, np.float32), samples,
                             np.zeros(hops * hop_samples - len(samples), np.float32)])
    embeddings = front_end.stream_embeddings(padded)
    ends = front_end.window_samples + (np.arange(hops) + 1) * hop_samples
    last = (ends - EMBEDDING_SPAN_SAMPLES) // EMBEDDING_HOP_SAMPLES  # the last embedding complete at each end
    offsets = np.arange(1 - front_end.window_embeddings, 1)
    classes = head.output_shape[-1]
    probs = np.zeros((hops, classes), np.float32)
    for start in range(0, hops, PREDICT_HOPS):
        index = last[start:start + PREDICT_HOPS, None] + offsets
        probs[start:start + len(index)] = np.asarray(head.predict_on_batch(embeddings[index]))
    return probs, hop_samples * 1000.0 / SAMPLE_RATE


def _median_ms(function, repeats, clock):
    times = []
    for _ in range(repeats):
        start = clock()
        function()
        times.append(clock() - start)
    return 1e3 * float(np.median(times))


def measure_speed(front_end, head, repeats=30, seed=0):
    """Median ms on this machine: `clip_ms` (clip_embeddings of a 1 s clip) and `hop_ms` (a live 80 ms
    hop's front end: 8 new mel frames and one embedding) in CPU time of this thread, where the
    interpreters run (the machine may be shared); `head_ms` in wall time (TensorFlow's threads):
    predict_on_batch on one window, mostly Keras's overhead (the head is 0.2 M multiply-adds);
    `real_time_factor`: (hop_ms + head_ms) / 80."""
    rng = np.random.default_rng(seed)
    clip = (0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
    chunk = to_int16_scale(clip[:EMBEDDING_HOP_SAMPLES + MEL_FRAME_SAMPLES - MEL_STEP_SAMPLES])[None]  # 8 frames
    mel_window = front_end._windows(front_end._mels(to_int16_scale(clip)[None])[0])[:1]
    window = front_end.clip_embeddings(clip)[None]
    head.predict_on_batch(window)  # the first call traces
    figures = {"clip_ms": _median_ms(lambda: front_end.clip_embeddings(clip), repeats, time.thread_time),
               "hop_ms": _median_ms(lambda: (front_end._mels(chunk), front_end._embed(mel_window)), repeats,
                                    time.thread_time),
               "head_ms": _median_ms(lambda: head.predict_on_batch(window), repeats, time.perf_counter)}
    figures["real_time_factor"] = (figures["hop_ms"] + figures["head_ms"]) / (1e3 * EMBEDDING_HOP_SAMPLES
                                                                             / SAMPLE_RATE)
    return figures
