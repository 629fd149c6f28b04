"""Training for the stream: windows (one clip long) as a sliding spotter sees them.

A model trained on cut clips has seen each word near the middle of a quiet clip. A spotter's
window (spot_keywords.py) holds the word anywhere, cuts it in half as it slides on and off it, lets
the neighbouring words reach in, and the noise is as loud as the talk allows. With
`AugmentSettings.stream_probability` p, input_data.AudioProcessor turns each training slot of a word
(wanted or unknown, pseudo-labelled clips included; not silence) with probability p into such a
window:

- the clip (at its drawn speed and volume) is moved so that its spoken part (audio.speech_span)
  lies at a uniformly random place wholly inside the window: the label is kept; or, with
  probability `stream_partial_probability`, so that a window edge cuts it and only 10-50% of it
  shows: the label becomes `_unknown_` (a fragment of a keyword is no keyword), and teacher
  probabilities are not used for it;
- on each side, with probability `stream_neighbour_probability`, the spoken part of another random
  training clip ends (starts) 0.05-0.4 s before (after) the word, moved further out where needed
  so that at most half of it shows: a neighbouring word cut by the window edge, at -6 to +6 dB
  of the word;
- noise: a random slice of a random noise file, scaled to a signal-to-noise ratio drawn uniformly
  from `stream_snr_db` over the word's spoken part (instead of the slot's background noise).

`plan(rng, ...)` draws the windows of a batch (a structured array, one record per sample) from its
own random stream, so settings with p = 0 give the batches they always gave; `render(...)` makes a
window. This module is a library: nothing runs at import.
"""

import numpy as np

from kws.data import audio

FRAGMENT_SHOWN = (0.1, 0.5)  # share of a cut word (or neighbour) inside the window
NEIGHBOUR_GAP_S = (0.05, 0.4)
NEIGHBOUR_DB = (-6.0, 6.0)
FADE_SAMPLES = 160  # 10 ms fades at the ends of a neighbour's spoken part

WINDOW_DTYPE = np.dtype([("on", bool), ("partial", bool), ("position", np.float32), ("left_edge", bool),
                         ("shown", np.float32), ("neighbour_rows", np.int64, 2), ("neighbour_gap_s", np.float32, 2),
                         ("neighbour_shown", np.float32, 2), ("neighbour_db", np.float32, 2),
                         ("snr_db", np.float32), ("noise_file", np.int64), ("noise_start", np.int64)])


def no_windows(n):
    """The plan of n samples none of which is a stream window (validation, testing, p = 0)."""
    return np.zeros(n, WINDOW_DTYPE)


def plan(rng, word_slots, settings, neighbour_pool, noise_slices):
    """Stream-window records for a batch; `word_slots` marks the samples that may become one,
    `neighbour_pool` holds the cache rows neighbours come from, `noise_slices(rng, n)` -> (files, starts)."""
    n = len(word_slots)
    windows = no_windows(n)
    windows["on"] = word_slots & (rng.random(n) < settings.stream_probability)
    windows["partial"] = rng.random(n) < settings.stream_partial_probability
    windows["position"] = rng.random(n)
    windows["left_edge"] = rng.random(n) < 0.5
    windows["shown"] = rng.uniform(*FRAGMENT_SHOWN, n)
    has_neighbour = rng.random((n, 2)) < settings.stream_neighbour_probability
    picks = neighbour_pool[rng.integers(len(neighbour_pool), size=(n, 2))] if len(neighbour_pool) else -np.ones((n, 2))
    windows["neighbour_rows"] = np.where(has_neighbour, picks, -1)
    windows["neighbour_gap_s"] = rng.uniform(*NEIGHBOUR_GAP_S, (n, 2))
    windows["neighbour_shown"] = rng.uniform(*FRAGMENT_SHOWN, (n, 2))
    windows["neighbour_db"] = rng.uniform(*NEIGHBOUR_DB, (n, 2))
    windows["snr_db"] = rng.uniform(*settings.stream_snr_db, n)
    windows["noise_file"], windows["noise_start"] = noise_slices(rng, n)
    return windows


def _rms(samples):
    return max(float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))), 1e-9) if len(samples) else 1e-9


def _add(out, piece, start):
    """Adds `piece` to `out` with its first sample at `start` (parts outside `out` are dropped)."""
    lo, hi = max(start, 0), min(start + len(piece), len(out))
    if lo < hi:
        out[lo:hi] += piece[lo - start:hi - start]


def _spoken(clip):
    """The spoken part of a clip, faded in and out."""
    first, end = audio.speech_span(clip)
    part = clip[first:end].copy()
    fade = np.linspace(0.0, 1.0, min(FADE_SAMPLES, len(part) // 2), dtype=np.float32)
    if len(fade):
        part[:len(fade)] *= fade
        part[-len(fade):] *= fade[::-1]
    return part


def _neighbour_start(side, part_len, word_start, word_end, gap_samples, shown, window):
    """First sample of a neighbour's spoken part: `gap` away from the word, at most `shown` of it inside."""
    if side == 0:  # before the word: it ends gap before the word starts, or earlier
        end = min(word_start - gap_samples, round(shown * part_len))
        return end - part_len
    return max(word_end + gap_samples, window - round(shown * part_len))


def render(clip, window, neighbours, noise, window_samples=audio.CLIP_SAMPLES):
    """One stream window (float32 [window_samples], scaled down to a 0.99 peak where louder) of a word
    clip (float32, speed and volume applied), its plan record, the neighbours' clips (float32, by
    side; None for none) and the noise recording of `window["noise_file"]` (None: no noise file)."""
    out = np.zeros(window_samples, np.float32)
    first, end = audio.speech_span(clip)
    spoken = min(end - first, window_samples)
    if window["partial"]:
        hidden = spoken - max(1, round(float(window["shown"]) * spoken))
        word_start = -hidden if window["left_edge"] else window_samples - spoken + hidden
    else:
        word_start = round(float(window["position"]) * (window_samples - spoken))
    _add(out, clip, word_start - first)  # the whole clip: its own lead-in and tail come along
    word_rms = _rms(clip[first:first + spoken])
    for side, neighbour in enumerate(neighbours):
        if neighbour is None:
            continue
        part = _spoken(neighbour)
        gap = round(float(window["neighbour_gap_s"][side]) * audio.SAMPLE_RATE)
        start = _neighbour_start(side, len(part), word_start, word_start + spoken, gap,
                                 float(window["neighbour_shown"][side]), window_samples)
        gain = word_rms * 10 ** (float(window["neighbour_db"][side]) / 20) / _rms(part)
        _add(out, np.float32(gain) * part, start)
    if noise is not None:
        piece = noise[window["noise_start"]:window["noise_start"] + window_samples]
        gain = word_rms * 10 ** (-float(window["snr_db"]) / 20) / _rms(piece)
        _add(out, np.float32(gain) * piece, 0)
    peak = float(np.abs(out).max())
    return out / np.float32(peak / 0.99) if peak > 0.99 else out  # quieter rather than clipped: the SNR stays
