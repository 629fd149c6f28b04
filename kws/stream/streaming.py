"""Keyword spotting in a stream: audio sources, the sliding window, and the decision rule.

Used by spot_keywords.py (live) and score_streaming.py (replaying a score trace); numpy and the
standard library only, so that it runs on a Raspberry Pi beside make_submission_on_rpi.py.

Audio sources yield float32 mono blocks at 16 kHz:
- `wav_blocks(file)`: a WAV file (or a WAV on standard input) of any format `audio.py` reads, read
  block by block, so any length streams in constant memory; a header that declares no length or
  a wrong one (what `arecord` writes into a pipe) reads to the end of the data;
- `pcm_blocks(file, sample_rate, channels)`: raw 16-bit little-endian PCM (`arecord -t raw`);
both resampled to 16 kHz with `audio.Resampler` (numpy).

Windows (`WindowStream`, `FeatureStream`): `push(hop)` adds one hop of samples and returns the
model's probabilities for the last window: `window_samples`, the model's clip length (one second
by default). Before the first window has arrived the window holds zeros, so a word at the very
start of a stream is seen too. `WindowStream` runs the whole model
on every window; `FeatureStream` runs a feature front end on the frames that the hop completed
and a classifier on the last `frames` feature frames (see stream_export.py), which is exact
when the hop is a multiple of the frame step.

Decision (`Detector` = smoothing + `Trigger`): the probabilities of the last `smooth_hops` hops
are averaged (in float64, oldest first; the first hops average fewer); the top label and its
averaged score go to the trigger. Thresholds are one float for every keyword or a dict
{keyword: threshold} (a keyword missing from it never fires). The trigger reports a keyword (any
label but `_silence_` and `_unknown_`) at the hop where it has been the top label with a score at
or above its threshold for `min_hops` consecutive hops (default 1: at once), unless
- the same keyword was the one last reported and has stayed on top above its threshold since
  (one word held over several hops is one detection), or
- less than the refractory time has passed since the last detection (of any keyword); a keyword
  that has been on top for min_hops hops or more then fires at the first hop the time has passed.
A threshold of 0 (a float) makes the detector report the top label of every hop (all labels, no
suppression): a score trace from which `replay` reproduces, for any thresholds, refractory time
and min_hops, exactly the detections a run with those settings would make.

Offline (vectorised, for calibration): `smooth(probs, smooth_hops)` is Detector's running mean
of a whole [hops, classes] array, `trace_of` the trace Detector with threshold 0 would write for
it, and `CompiledTrace` + `replay_compiled` replay one trace at many settings quickly.

This module is a library: nothing runs at import.
"""

import collections
import struct

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import labels as label_sets

WINDOW_SAMPLES = audio.CLIP_SAMPLES  # a default only: a stream slides a window of its model's clip length
_READ_FRAMES = 4096  # frames per read: a quarter second at 16 kHz, small enough for a live stream
_NON_KEYWORDS = (label_sets.SILENCE_LABEL, label_sets.UNKNOWN_LABEL)


def _read_exactly(stream, size):
    """Up to `size` bytes: fewer only at the end of the stream (a pipe returns what it has)."""
    parts, missing = [], size
    while missing > 0:
        part = stream.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def _mono(data, tag, bits, channels):
    """float32 mono samples of whole frames of sample bytes (channels averaged, NaN and inf made finite)."""
    samples = audio.samples_to_float(data, tag, bits).reshape(-1, channels)
    mono = samples.mean(axis=1, dtype=np.float32) if channels > 1 else samples[:, 0]
    return np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)


def _to_16k(blocks, rate):
    """Blocks resampled to 16 kHz (the resampler flushed at the end) and clipped to [-1, 1], as audio.py reads."""
    resampler = None if rate == audio.SAMPLE_RATE else audio.Resampler(rate, audio.SAMPLE_RATE)
    for block in blocks:
        yield np.clip(block if resampler is None else resampler.process(block), -1.0, 1.0)
    if resampler is not None:
        yield np.clip(resampler.flush(), -1.0, 1.0)


def _wav_header(stream, name):
    """(format tag, channels, rate, bits, data bytes or None) after reading up to the 'data' chunk."""
    head = _read_exactly(stream, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise audio.WavError(name, "not a WAV file (no RIFF/WAVE header)" if head else "empty file")
    fmt = None
    while True:
        chunk = _read_exactly(stream, 8)
        if len(chunk) < 8:
            raise audio.WavError(name, "no 'data' chunk (truncated file?)")
        chunk_id, size = struct.unpack("<4sI", chunk)
        if chunk_id == b"data":
            if fmt is None:
                raise audio.WavError(name, "no 'fmt ' chunk before the samples")
            # 0 and 0xFFFFFFFF (or any size the stream then lacks): a header written before the length was known
            return (*fmt, None if size in (0, 0xFFFFFFFF) else size)
        payload = _read_exactly(stream, size + (size & 1))
        if chunk_id == b"fmt ":
            fmt = audio.parse_format(payload[:size], name)


def wav_blocks(stream, name):
    """float32 16 kHz mono blocks of a WAV read from a binary file object (see the module docstring)."""
    tag, channels, rate, bits, size = _wav_header(stream, name)
    frame_bytes = channels * bits // 8

    def blocks():
        left = size
        while left is None or left > 0:
            want = _READ_FRAMES * frame_bytes if left is None else min(_READ_FRAMES * frame_bytes, left)
            data = _read_exactly(stream, want)
            usable = len(data) - len(data) % frame_bytes
            if usable:
                yield _mono(data[:usable], tag, bits, channels)
            if len(data) < want:
                return  # the end of the stream, or of a file shorter than its header says
            left = None if left is None else left - len(data)

    return _to_16k(blocks(), rate)


def pcm_blocks(stream, sample_rate, channels=1):
    """float32 16 kHz mono blocks of raw 16-bit little-endian PCM read from a binary file object."""
    if sample_rate < 1 or channels < 1:
        raise cli.UserError(f"raw PCM needs a sample rate and channel count >= 1, got {sample_rate} and {channels}")
    frame_bytes = 2 * channels

    def blocks():
        while True:
            data = _read_exactly(stream, _READ_FRAMES * frame_bytes)  # short only at the end
            usable = len(data) - len(data) % frame_bytes  # a torn last frame is dropped
            if usable:
                yield _mono(data[:usable], 1, 16, channels)
            if len(data) < _READ_FRAMES * frame_bytes:
                return

    return _to_16k(blocks(), sample_rate)


def hops(blocks, hop_samples, tail_samples=0):
    """Blocks regrouped into hops of exactly `hop_samples`; the last partial hop and `tail_samples`
    of silence after the end are zero-padded hops (so that a word at the very end is still heard)."""
    pending, size = [], 0
    for block in blocks:
        pending.append(np.asarray(block, np.float32))
        size += len(block)
        if size >= hop_samples:
            joined = np.concatenate(pending)
            whole = len(joined) // hop_samples * hop_samples
            yield from joined[:whole].reshape(-1, hop_samples)
            pending, size = [joined[whole:]], len(joined) - whole
    rest = np.concatenate(pending) if pending else np.zeros(0, np.float32)
    padded = np.zeros(-(-(len(rest) + tail_samples) // hop_samples) * hop_samples, np.float32)
    padded[:len(rest)] = rest
    yield from padded.reshape(-1, hop_samples)


def frames_of(samples, frame_length, frame_step):
    """[n, frame_length] overlapping frames of `samples` (no padding), as features.Frame cuts them."""
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(samples, np.float32), frame_length)
    return np.ascontiguousarray(windows[::frame_step])


class WindowStream:
    """The last `window_samples` of audio (the model's clip), and the whole model's probabilities for it
    at every hop."""

    def __init__(self, predict_window, window_samples=WINDOW_SAMPLES):
        self.predict_window = predict_window
        self.window_samples = window_samples
        self.window = np.zeros(window_samples, np.float32)

    def push(self, hop):
        n = len(hop)
        if n >= len(self.window):
            self.window[:] = hop[-len(self.window):]
        else:
            self.window[:-n] = self.window[n:]
            self.window[-n:] = hop
        return self.predict_window(self.window)


class FeatureStream:
    """Features of new frames only, a classifier over the last `frames` of them (see the module docstring).

    Positions count from the start of the zeros that precede the stream (one window of them), so
    window k (after k hops) starts at k * hop and its frames are those of index k * hop / step on.
    """

    def __init__(self, front_end, classifier, spec, hop_samples):
        self.front_end, self.classifier = front_end, classifier
        self.length, self.step = spec["frame_length_samples"], spec["frame_step_samples"]
        self.frames, self.hop = spec["frames"], hop_samples
        if hop_samples % self.step:
            raise cli.UserError(f"a hop of {hop_samples} samples is not a multiple of the model's frame step "
                             f"({self.step} samples): the split model needs one (or recompute whole windows)")
        self.window_samples = spec["window_samples"]
        self.audio = np.zeros(self.window_samples, np.float32)  # from position audio_start on
        self.audio_start = 0
        self.next_frame = 0  # index of the first frame not computed yet
        self.features = np.zeros((0, spec["bins"]), np.float32)  # frames from features_start on
        self.features_start = 0
        self.window_start = 0
        self._compute_frames()

    def _compute_frames(self):
        received = self.audio_start + len(self.audio)
        last = (received - self.length) // self.step  # the last frame the audio completes
        if last >= self.next_frame:
            first_sample = self.next_frame * self.step - self.audio_start
            chunk = self.audio[first_sample:first_sample + (last - self.next_frame) * self.step + self.length]
            self.features = np.concatenate([self.features, self.front_end(frames_of(chunk, self.length, self.step))])
            self.next_frame = last + 1
        keep_from = self.next_frame * self.step  # the next frame's first sample
        self.audio, self.audio_start = self.audio[keep_from - self.audio_start:], keep_from

    def push(self, hop):
        if len(hop) != self.hop:
            raise ValueError(f"FeatureStream takes hops of {self.hop} samples, got {len(hop)}")
        self.audio = np.concatenate([self.audio, hop])
        self._compute_frames()
        self.window_start += self.hop
        first = self.window_start // self.step - self.features_start
        probs = self.classifier(self.features[first:first + self.frames])
        self.features = self.features[first:]  # earlier frames belong to no later window
        self.features_start += first
        return probs


NEVER_FIRES = float("inf")  # the threshold of a keyword missing from a per-keyword dict


def _threshold_lookup(thresholds):
    """label -> threshold, for one float (every keyword) or a {keyword: threshold} dict (others never fire)."""
    if isinstance(thresholds, dict):
        table = {label: float(value) for label, value in thresholds.items()}
        return lambda label: table.get(label, NEVER_FIRES)
    value = float(thresholds)
    return lambda label: value


class Trigger:
    """The decision rule on (time, top label, score) per hop; `step` returns True for a detection.

    `thresholds`: a float (every keyword) or {keyword: threshold} (a keyword missing never fires);
    a keyword fires once it has been the top label at or above its threshold for `min_hops`
    consecutive hops (see the module docstring for latching and the refractory time).
    """

    def __init__(self, thresholds, refractory_s, min_hops=1):
        if min_hops < 1:
            raise ValueError(f"min_hops must be >= 1, got {min_hops}")
        self.threshold_of = _threshold_lookup(thresholds)
        self.refractory_s, self.min_hops = float(refractory_s), int(min_hops)
        self.latched = None  # the last reported keyword while it stays on top above the threshold
        self.last_time_s = -np.inf
        self.run_label, self.run_hops = None, 0  # the keyword on top above its threshold, for how many hops

    def step(self, time_s, label, score):
        active = label not in _NON_KEYWORDS and score >= self.threshold_of(label)
        if not active:
            self.run_label, self.run_hops = None, 0
        elif label == self.run_label:
            self.run_hops += 1
        else:
            self.run_label, self.run_hops = label, 1
        if self.latched is not None and not (active and label == self.latched):
            self.latched = None
        # a small epsilon: hop times are sums of floats, a refractory time of exactly k hops must pass
        if (active and self.latched is None and self.run_hops >= self.min_hops
                and time_s - self.last_time_s >= self.refractory_s - 1e-6):
            self.latched, self.last_time_s = label, time_s
            return True
        return False


def is_trace_setting(thresholds):
    """True for the threshold that asks for a score trace: one float <= 0."""
    return not isinstance(thresholds, dict) and float(thresholds) <= 0


class Detector:
    """Averages each hop's probabilities over `smooth_hops` hops (`smooth`) and applies a `Trigger`.

    `update(time_s, probs)` returns (label, score) of a detection or None; with threshold 0 (a
    float) it returns the top label and score of every hop (the score trace).
    """

    def __init__(self, model_labels, smooth_hops, thresholds, refractory_s, min_hops=1):
        if smooth_hops < 1:
            raise ValueError(f"smoothing needs at least one hop, got {smooth_hops}")
        self.labels = list(model_labels)
        self.history = collections.deque(maxlen=int(smooth_hops))
        self.trace = is_trace_setting(thresholds)
        self.trigger = Trigger(thresholds, refractory_s, min_hops)

    def update(self, time_s, probs):
        self.history.append(np.asarray(probs, np.float32))
        total = np.zeros(len(self.history[0]), np.float64)
        for past in self.history:  # oldest first, in float64: the order and precision `smooth` uses
            total += past
        smoothed = total / len(self.history)
        top = int(np.argmax(smoothed))
        label, score = self.labels[top], float(smoothed[top])
        if self.trace or self.trigger.step(time_s, label, score):
            return label, score
        return None


def smooth(probs, smooth_hops):
    """float64 [hops, classes]: the running mean of the last `smooth_hops` rows of `probs` (the first
    hops average fewer), exactly as Detector computes it hop by hop."""
    probs = np.asarray(probs, np.float32)
    if smooth_hops < 1:
        raise ValueError(f"smoothing needs at least one hop, got {smooth_hops}")
    total = np.zeros(probs.shape, np.float64)
    for age in range(int(smooth_hops) - 1, -1, -1):  # oldest first, as Detector adds them
        total[age:] += probs[:len(probs) - age]
    counts = np.minimum(np.arange(1, len(probs) + 1), int(smooth_hops))
    return total / counts[:, None]


def trace_of(probs, model_labels, smooth_hops, hop_s):
    """[(time_s, label, score)] of every hop: what Detector with threshold 0 reports for the per-hop
    probabilities `probs` [hops, classes] when hop k (from 0) arrives at time (k + 1) * hop_s."""
    smoothed = smooth(probs, smooth_hops)
    top = np.argmax(smoothed, axis=1)
    scores = smoothed[np.arange(len(top)), top]
    model_labels = list(model_labels)
    return [((k + 1) * hop_s, model_labels[i], float(score)) for k, (i, score) in enumerate(zip(top.tolist(), scores))]


class CompiledTrace:
    """A score trace as arrays, for replaying it at many settings quickly (`replay_compiled`)."""

    def __init__(self, trace):
        self.times = np.array([t for t, _, _ in trace], np.float64)
        self.scores = np.array([s for _, _, s in trace], np.float64)
        self.labels = sorted({label for _, label, _ in trace})
        index = {label: i for i, label in enumerate(self.labels)}
        self.label_ids = np.array([index[label] for _, label, _ in trace], np.int64)
        self.keyword = np.array([label not in _NON_KEYWORDS for label in self.labels], bool)

    def keyword_scores(self, label):
        """The scores of the hops where `label` is on top."""
        if label not in self.labels:
            return np.zeros(0)
        return self.scores[self.label_ids == self.labels.index(label)]


def replay_compiled(compiled, thresholds, refractory_s, min_hops=1):
    """`replay` on a CompiledTrace: the same detections, vectorised over the hops.

    A run of consecutive hops with the same keyword on top at or above its threshold holds at most
    one detection (latching): at its first hop that is the min_hops-th of the run or later and at
    least the refractory time after the previous detection.
    """
    if min_hops < 1:
        raise ValueError(f"min_hops must be >= 1, got {min_hops}")
    lookup = _threshold_lookup(thresholds)
    per_label = np.array([lookup(label) if keyword else np.inf
                          for label, keyword in zip(compiled.labels, compiled.keyword)], np.float64)
    if not len(compiled.times):
        return []
    active = compiled.scores >= per_label[compiled.label_ids]
    ids = np.where(active, compiled.label_ids, -1)
    starts = np.flatnonzero(active & np.concatenate([[True], ids[1:] != ids[:-1]]))
    ends = np.flatnonzero(active & np.concatenate([ids[:-1] != ids[1:], [True]]))
    detections, last_s = [], -np.inf
    for start, end in zip(starts.tolist(), ends.tolist()):
        first = start + min_hops - 1
        if first > end:
            continue
        ready = compiled.times[first:end + 1] - last_s >= refractory_s - 1e-6  # Trigger's comparison
        if ready.any():
            k = first + int(np.argmax(ready))
            last_s = compiled.times[k]
            detections.append((float(last_s), compiled.labels[compiled.label_ids[k]], float(compiled.scores[k])))
    return detections


def replay(trace, thresholds, refractory_s, min_hops=1):
    """The detections [(time_s, label, score)] that a run with `thresholds` (a float or a per-keyword
    dict), `refractory_s` and `min_hops` would make, from the score trace [(time_s, label, score),
    every hop in order] of a run with threshold 0 and the same smoothing."""
    if not isinstance(trace, CompiledTrace):
        if not trace:
            return []
        trace = CompiledTrace(trace)
    return replay_compiled(trace, thresholds, refractory_s, min_hops)
