"""What each sample of a batch is made of (`BatchPlan`) and its waveform (`render`).

input_data.AudioProcessor draws the plans (seeded: which clip, shift, speed, volume, noise slice
and level, stream window); this module turns a plan into float32 waveforms from the processor's
int16 clip cache and noise recordings, the same way for training and evaluation. Numpy only; a
library: nothing runs at import.
"""

import dataclasses

import numpy as np

from kws.data import audio
from kws.data import stream_augment
from kws.submit import tta


@dataclasses.dataclass
class BatchPlan:
    """What each sample of a batch is made of (one array entry per sample)."""

    rows: np.ndarray  # cache row of the clip; -1 for a silence sample
    label: np.ndarray  # model label index
    shift: np.ndarray  # time shift in samples
    gain: np.ndarray  # foreground volume
    speed: np.ndarray  # speed factor (1 = unchanged)
    noise_file: np.ndarray  # index into the noise files; -1 for none
    noise_start: np.ndarray  # first sample of the noise slice
    noise_gain: np.ndarray  # noise multiplier (clips)
    silence_rms: np.ndarray  # target RMS (silence samples; nan for clips)
    window: np.ndarray = None  # stream_augment.WINDOW_DTYPE records of stream windows (None: none)

    def __post_init__(self):
        if self.window is None:
            self.window = stream_augment.no_windows(len(self.rows))

    def __getitem__(self, index):
        return BatchPlan(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)))

    def __len__(self):
        return len(self.rows)


def change_speed(samples, factor):
    """`samples` played `factor` times faster about the clip centre (pitch follows), zero outside."""
    n = len(samples)
    centre = (n - 1) / 2.0
    positions = centre + (np.arange(n) - centre) * factor
    return np.interp(positions, np.arange(n), samples, left=0.0, right=0.0).astype(np.float32)


def place_clip(out, clip, shift_samples, speed, circular):
    """Writes `clip` into `out` moved by `shift_samples` (later if positive), zero-filled (tta.shift_clip, the
    time shift of TTA too: one sign convention) or wrapped."""
    if speed != 1.0:
        clip = change_speed(clip, speed)
    if circular:
        out[:] = np.roll(clip, shift_samples)
    else:
        tta.shift_clip(clip, shift_samples, out=out)


def render(plan, cache, noise, circular_shift=False):
    """The float32 waveforms [n, clip samples] of a plan: clips (rows of the int16 `cache`, whose length
    is the clip length) moved, sped up and scaled, slices of the `noise` recordings added (silence:
    scaled to its RMS), stream windows (stream_augment.render), clipped to [-1, 1]; `circular_shift`
    wraps shifted clips around."""
    clip_samples = cache.shape[1]
    x = np.zeros((len(plan), clip_samples), np.float32)
    for r in np.flatnonzero(plan.rows >= 0):  # per-row slices: cheaper than a [n, clip samples] gather
        place_clip(x[r], cache[plan.rows[r]], int(plan.shift[r]), float(plan.speed[r]), circular_shift)
    x *= (plan.gain / 32768.0).astype(np.float32)[:, None]  # int16 scale and volume in one pass
    for r in np.flatnonzero(plan.noise_file >= 0):
        start = plan.noise_start[r]
        piece = noise[plan.noise_file[r]][start:start + clip_samples]
        gain = plan.noise_gain[r]
        if plan.rows[r] < 0:  # silence: scale the slice to its target RMS
            gain = plan.silence_rms[r] / max(float(np.sqrt(np.mean(np.square(piece)))), 1e-9)
        x[r] += np.float32(gain) * piece
    for r in np.flatnonzero(plan.window["on"]):
        x[r] = _render_window(plan[r], cache, noise)
    return np.clip(x, -1.0, 1.0, out=x)


def _render_window(sample, cache, noise):
    """One stream window (stream_augment.render) of a one-sample plan."""
    window = sample.window
    clip = audio.int16_to_float(cache[sample.rows])
    if sample.speed != 1.0:
        clip = change_speed(clip, float(sample.speed))
    neighbours = [audio.int16_to_float(cache[row]) if row >= 0 else None for row in window["neighbour_rows"]]
    recording = noise[window["noise_file"]] if window["noise_file"] >= 0 else None
    return stream_augment.render(clip * np.float32(sample.gain), window, neighbours, recording, cache.shape[1])
