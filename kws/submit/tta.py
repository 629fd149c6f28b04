"""Test-time augmentation (TTA): the variants of a clip whose probabilities are averaged.

A library (nothing runs at import; no command line) of make_submission.py (`--tta_*` flags) and
teachers.py (`teacher_tta`); samples.py places training clips with `shift_clip` too:

    variants = tta.tta_variants(shift_samples=[-1500], louder=1.2)   # original + 2 variants
    x = np.stack([variant.apply(clips) for variant in variants])     # [variants, clips, samples]
    probs = tta.predict_variants(keras_model, x, full_batch=256)      # their mean probabilities

A time shift, here and in training, has ONE sign convention: `shift_samples > 0` moves the clip
LATER (to the right: zeros enter at the start, its end is cut off), `< 0` moves it EARLIER (to the
left: zeros enter at the end). Training's clip placement (samples.place_clip, the time shift of
`time_shift_ms`, positive = later as in TensorFlow's speech_commands tutorial) calls `shift_clip`:
it is the same operation. make_submission.py's flag `--tta_shift_samples N` says "shift left by N"
(the winning entry's "left" TTA is N = 1500), so the flag's N is the time shift -N here.

Variants: "original"; "shift" (samples, the convention above); "louder" (a factor, clipped to
[-1, 1]); "stretch" (librosa's phase-vocoder time stretch at a rate, > 1 faster, then padded or cut at
the end to the clip length, audio.fit_clip's rule). The winning entry's "leftloud" TTA
(`leftloud_variants`): the original, 1,500 samples earlier, and 1.2 times louder.

Numpy only at import (librosa for "stretch" only, when a stretch variant is applied).
"""

import dataclasses

import numpy as np

from kws import cli

DEFAULT_LOUDER = 1.2  # the winning entry's "loud" TTA factor
LEFTLOUD_SHIFT_SAMPLES = -1500  # the winning entry's "left": 1,500 samples (94 ms) earlier


@dataclasses.dataclass(frozen=True)
class Variant:
    """One TTA version of a clip: kind "original", "shift" (samples, > 0 later), "louder" (factor),
    "stretch" (rate)."""

    kind: str
    amount: float = 0.0

    def apply(self, clips):
        """The variant of one clip [samples] or of a batch [clips, samples] (along the last axis)."""
        if self.kind == "shift":
            return shift_clip(clips, int(self.amount))
        if self.kind == "louder":
            return np.clip(clips * np.float32(self.amount), -1.0, 1.0)
        if self.kind == "stretch":
            return stretch_clip(clips, self.amount)
        return clips


def tta_variants(shift_samples=(), louder=None, stretch_rates=()):
    """The original clip followed by the requested TTA variants (shifts: > 0 later, < 0 earlier)."""
    variants = [Variant("original")]
    variants += [Variant("shift", int(n)) for n in shift_samples or ()]
    if louder is not None:
        if louder <= 0:
            raise cli.UserError(f"--tta_louder must be > 0, got {louder}")
        variants.append(Variant("louder", float(louder)))
    for rate in stretch_rates or ():
        if rate <= 0:
            raise cli.UserError(f"--tta_stretch rates must be > 0, got {rate}")
        variants.append(Variant("stretch", float(rate)))
    return variants


def leftloud_variants():
    """The winning entry's TTA: the original, 1,500 samples earlier, and DEFAULT_LOUDER times louder."""
    return tta_variants([LEFTLOUD_SHIFT_SAMPLES], DEFAULT_LOUDER)


def shift_clip(clips, shift_samples, out=None):
    """Clips moved along the last axis by `shift_samples`: later if positive, earlier if negative, the
    samples moved in zeros (all zeros once |shift| reaches the length). Written into `out` (same shape;
    e.g. a row of a float32 batch for int16 clips) when given, else into a new array."""
    shifted = np.zeros_like(clips) if out is None else out
    if out is not None:
        shifted[...] = 0
    n = clips.shape[-1]
    if abs(shift_samples) >= n:
        return shifted
    if shift_samples >= 0:
        shifted[..., shift_samples:] = clips[..., :n - shift_samples]
    else:
        shifted[..., :shift_samples] = clips[..., -shift_samples:]
    return shifted


def stretch_clip(clips, rate):
    """librosa's phase-vocoder time stretch (RATE > 1: faster) along the last axis, back to its length."""
    import librosa  # slow to import: only when a stretch variant is applied

    n = clips.shape[-1]
    stretched = librosa.effects.time_stretch(clips, rate=float(rate))  # every row at once
    fitted = np.zeros_like(clips)
    kept = min(n, stretched.shape[-1])
    fitted[..., :kept] = stretched[..., :kept]  # audio.fit_clip's rule: pad at the end or keep the start
    return fitted


def predict_variants(keras_model, x, full_batch):
    """Mean probabilities over the variants of x [variants, clips, samples].

    A short last batch is zero-padded to `full_batch` clips: one input shape, so the model's
    compiled function is not traced a second time.
    """
    count = x.shape[1]
    if count < full_batch:
        x = np.pad(x, ((0, 0), (0, full_batch - count), (0, 0)))
    return np.mean([np.asarray(keras_model.predict_on_batch(v))[:count] for v in x], axis=0)
