"""Coloured and everyday-like background noise: a script, and the noise library of the corpus generator.

Writes long noise recordings for the `_background_noise_` folder of a dataset, where training mixes
them under speech and cuts "silence" clips from them:

    python generate_noise.py --out data/train/audio/_background_noise_ \
        [--colors white,pink,brown,blue,violet] [--duration_s 60] [--rms 0.1 | --dbfs -20] [--seed 0]

Kinds of noise (`--colors` takes a comma list of them, or `all`):
- coloured noise, white Gaussian noise shaped in the frequency domain so that its power spectral
  density is proportional to f^slope: white (slope 0), pink (-1), brown (-2), blue (+1), violet (+2);
- everyday-like noise, built from shaped noise: `water` (running tap: band-passed noise with random
  bubbling modulation and droplet chirps), `hum` (mains 50 or 60 Hz and its harmonics, over a faint
  hiss), `babble` (several "talkers": harmonic and noisy sources under moving formants, with a
  syllable rhythm), `fan` (low-passed noise with blade tones and a slow wobble), `rain` (sparse
  crackle of impulses over a hiss), `traffic` (rumble with passing-vehicle swells).

Each file is `synthetic_<kind>_noise.wav` (16 kHz mono 16-bit PCM, written atomically), named so
that it never replaces the real dataset's own `white_noise.wav` and `pink_noise.wav`. The level is
the RMS of the samples in full-scale units (`--rms`), or the same in dB relative to full scale
(`--dbfs`, RMS dBFS = 20 log10(rms)). Existing files are kept unless `--overwrite` is given.

Library use: `make_noise(kind, num_samples, rng)` returns unit-RMS float32 noise of any kind
listed in `NOISE_KINDS`, a pure function of the generator's state; `NoiseBank` serves segments of
generated kinds and of real recordings alike (used by `make_synthetic_dataset.py`).
"""

import argparse
import collections
import logging
import os

import numpy as np
from scipy import signal

from kws.data import audio
from kws import cli

log = logging.getLogger(__name__)

COLOR_SLOPES = {"white": 0.0, "pink": -1.0, "brown": -2.0, "blue": 1.0, "violet": 2.0}
EVERYDAY_KINDS = ("water", "hum", "babble", "fan", "rain", "traffic")
DEFAULT_RMS = 0.1  # -20 dBFS: loud enough to hear, far enough from full scale that peaks never clip


def _unit_rms(samples):
    """Scales to RMS 1 (silence stays silence) as float32."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples - samples.mean()
    rms = np.sqrt(np.mean(samples ** 2))
    return (samples / rms if rms > 0 else samples).astype(np.float32)


def shaped_noise(num_samples, slope, rng):
    """Gaussian noise whose power spectral density is proportional to f**slope (DC removed)."""
    num_bins = num_samples // 2 + 1
    spectrum = rng.standard_normal(num_bins) + 1j * rng.standard_normal(num_bins)
    freqs = np.fft.rfftfreq(num_samples)
    gain = np.zeros(num_bins)
    gain[1:] = freqs[1:] ** (slope / 2.0)  # amplitude goes as the square root of power
    return _unit_rms(np.fft.irfft(spectrum * gain, num_samples))


def _smooth_random(num_samples, cutoff_hz, rng, sample_rate):
    """A slowly varying unit-RMS random curve (noise low-passed at `cutoff_hz`)."""
    # Two passes (forward, backward) of a one-pole low-pass: no filter design, which would cost more
    # than the filtering for the short clips the corpus generator asks for.
    pole = np.exp(-2 * np.pi * cutoff_hz / sample_rate)
    once = signal.lfilter([1 - pole], [1, -pole], rng.standard_normal(num_samples))
    return _unit_rms(signal.lfilter([1 - pole], [1, -pole], once[::-1])[::-1])


def _bandpass(samples, low_hz, high_hz, sample_rate, order=2):
    sos = signal.butter(order, [low_hz, min(high_hz, 0.45 * sample_rate)], "bandpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, samples)


def _lowpass(samples, cutoff_hz, sample_rate, order=2):
    sos = signal.butter(order, min(cutoff_hz, 0.45 * sample_rate), fs=sample_rate, output="sos")
    return signal.sosfilt(sos, samples)


def _soft_limit(samples, crest):
    """Limits peaks to about `crest` times the RMS, so impulsive noise survives scaling to a level."""
    samples = _unit_rms(samples)
    for _ in range(4):  # limiting lowers the RMS, which raises the crest again: repeat until it holds
        samples = _unit_rms(crest * np.tanh(samples / crest))
    return samples


def _add_events(track, event, start_samples):
    """Adds `event` into `track` at each start (clipped at the end of the track)."""
    for start in start_samples:
        stop = min(len(track), start + len(event))
        track[start:stop] += event[:stop - start]


def water_noise(num_samples, rng, sample_rate=audio.SAMPLE_RATE):
    """Running tap: band-passed noise, bubbling amplitude modulation and short droplet chirps."""
    centre_hz = rng.uniform(700, 2500)
    hiss = _bandpass(rng.standard_normal(num_samples), centre_hz / 2.5, centre_hz * 2.5, sample_rate)
    bubbling = np.exp(rng.uniform(0.3, 0.8) * _smooth_random(num_samples, rng.uniform(6, 25), rng, sample_rate))
    track = _unit_rms(hiss * bubbling)
    chirp_samples = int(0.012 * sample_rate)
    t = np.arange(chirp_samples) / sample_rate
    for _ in range(3):  # three droplet sizes, each a rising chirp under a decaying envelope
        f0, f1 = sorted(rng.uniform(400, 3000, size=2))
        chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t[-1]))) * np.exp(-t / 0.004)
        count = rng.poisson(rng.uniform(5, 25) * num_samples / sample_rate)
        _add_events(track, rng.uniform(0.5, 2.0) * chirp, rng.integers(0, num_samples, size=count))
    return _soft_limit(track, 6.0)


def hum_noise(num_samples, rng, sample_rate=audio.SAMPLE_RATE):
    """Machine or mains hum: 50 or 60 Hz harmonics with a slight drift, over a faint pink hiss."""
    mains_hz = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
    drift = 1.0 + 0.002 * _smooth_random(num_samples, 0.5, rng, sample_rate)
    phase = 2 * np.pi * np.cumsum(mains_hz * drift) / sample_rate
    decay = rng.uniform(0.4, 1.5)
    track = np.zeros(num_samples)
    for harmonic in range(1, 13):
        if harmonic * mains_hz >= 0.45 * sample_rate:
            break
        weight = harmonic ** -decay * (rng.uniform(1.0, 3.0) if harmonic == 2 else rng.uniform(0.3, 1.0))
        track += weight * np.sin(harmonic * phase + rng.uniform(0, 2 * np.pi))
    return _unit_rms(_unit_rms(track) + rng.uniform(0.03, 0.2) * shaped_noise(num_samples, -1.0, rng))


def _formant_envelope(freqs_hz, formants_hz, bandwidths_hz):
    """Spectral envelope [freq, frame]: a sum of resonance peaks whose centres move frame by frame."""
    envelope = np.zeros((len(freqs_hz), len(formants_hz)), dtype=np.float32)
    for index, weight in enumerate((1.0, 0.6, 0.35)[: formants_hz.shape[1]]):
        distance = (freqs_hz[:, None] - formants_hz[None, :, index]) / bandwidths_hz[index]
        envelope += weight / (1.0 + distance ** 2)
    return envelope


def babble_noise(num_samples, rng, sample_rate=audio.SAMPLE_RATE, num_talkers=None):
    """Crowd babble: talkers with pitch harmonics, moving formants and a syllable rhythm, summed.

    Built in the short-time Fourier domain with one inverse STFT. The talkers share one Gaussian
    excitation scaled by the root of their summed power envelopes: a sum of independent Gaussians
    with different envelopes has exactly that distribution, at a fraction of the cost.
    """
    frame_samples, hop_samples = 512, 256
    num_frames = num_samples // hop_samples + 3
    freqs_hz = np.fft.rfftfreq(frame_samples, 1.0 / sample_rate).astype(np.float32)
    frame_rate_hz = sample_rate / hop_samples
    power = np.zeros((len(freqs_hz), num_frames), dtype=np.float32)
    for _ in range(num_talkers or int(rng.integers(4, 10))):
        syllable_frames = max(1, int(rng.uniform(0.12, 0.3) * frame_rate_hz))
        num_syllables = num_frames // syllable_frames + 2
        targets = np.column_stack([rng.uniform(250, 900, num_syllables), rng.uniform(800, 2400, num_syllables),
                                   rng.uniform(2200, 3400, num_syllables)])
        formants = np.repeat(targets, syllable_frames, axis=0)[:num_frames]
        formants = signal.lfilter([0.4], [1, -0.6], formants, axis=0)  # glide between syllables
        spectral = _formant_envelope(freqs_hz, formants, np.array([90.0, 130.0, 200.0]))
        f0_hz = rng.uniform(90, 240) * np.exp(0.08 * _smooth_random(num_frames, 0.5, rng, frame_rate_hz))
        voiced = np.cos(np.pi * freqs_hz[:, None] / f0_hz[None].astype(np.float32)) ** 2
        voiced = voiced * voiced * voiced * voiced  # cos**8: narrow peaks at multiples of f0
        rhythm = np.abs(np.sin(np.pi * np.arange(num_frames) / syllable_frames + rng.uniform(0, np.pi)))
        pauses = _smooth_random(num_frames, 0.3, rng, frame_rate_hz) > -0.6  # talkers pause now and then
        level = rng.uniform(0.3, 1.0) / np.sqrt(freqs_hz + 100.0)[:, None]
        power += (spectral * (0.15 + voiced) * (rhythm * pauses) * level) ** 2
    excitation = rng.standard_normal(power.shape) + 1j * rng.standard_normal(power.shape)
    _, samples = signal.istft(excitation * np.sqrt(power), fs=sample_rate, nperseg=frame_samples,
                              noverlap=frame_samples - hop_samples)
    return _soft_limit(samples[:num_samples], 9.0)  # loud syllables give rare peaks of 8-9 x RMS


def fan_noise(num_samples, rng, sample_rate=audio.SAMPLE_RATE):
    """Fan or air conditioner: low-passed noise, blade-pass tones and a slow wobble."""
    rumble = _unit_rms(_lowpass(rng.standard_normal(num_samples), rng.uniform(200, 1500), sample_rate))
    blade_hz = rng.uniform(15, 80)
    t = np.arange(num_samples) / sample_rate
    blades = sum(np.sin(2 * np.pi * k * blade_hz * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 5))
    wobble = 1.0 + rng.uniform(0.05, 0.25) * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t + rng.uniform(0, 2 * np.pi))
    hiss = shaped_noise(num_samples, rng.uniform(-1.0, 0.0), rng)
    return _unit_rms((rumble + rng.uniform(0.05, 0.4) * _unit_rms(blades)) * wobble + rng.uniform(0.05, 0.3) * hiss)


def rain_noise(num_samples, rng, sample_rate=audio.SAMPLE_RATE):
    """Rain or street crackle: sparse impulses of heavy-tailed size, each a short noise burst, over a hiss."""
    impulses = np.zeros(num_samples)
    count = rng.poisson(rng.uniform(30, 400) * num_samples / sample_rate)
    impulses[rng.integers(0, num_samples, size=count)] = rng.pareto(2.5, size=count) * rng.choice([-1, 1], size=count)
    burst_samples = int(rng.uniform(0.001, 0.005) * sample_rate)
    burst = rng.standard_normal(burst_samples) * np.exp(-np.arange(burst_samples) / (burst_samples / 4))
    crackle = signal.fftconvolve(impulses, burst)[:num_samples]
    crackle = _bandpass(crackle, rng.uniform(300, 1500), 7000, sample_rate)
    hiss = shaped_noise(num_samples, rng.uniform(-1.0, 0.0), rng)
    return _soft_limit(_unit_rms(crackle) + rng.uniform(0.1, 0.6) * hiss, 8.0)


def traffic_noise(num_samples, rng, sample_rate=audio.SAMPLE_RATE):
    """Traffic: low rumble (brown noise) with swells as vehicles pass, and a little hiss."""
    rumble = _unit_rms(_lowpass(shaped_noise(num_samples, -2.0, rng), rng.uniform(300, 1200), sample_rate))
    t = np.arange(num_samples) / sample_rate
    swells = np.full(num_samples, rng.uniform(0.2, 0.5))
    for centre_s in rng.uniform(-3, t[-1] + 3, size=rng.poisson(max(1.0, 0.3 * t[-1])) + 1):
        swells += rng.uniform(0.3, 1.5) * np.exp(-((t - centre_s) / rng.uniform(0.8, 3.0)) ** 2)
    return _unit_rms(rumble * swells + rng.uniform(0.05, 0.2) * shaped_noise(num_samples, 0.0, rng))


NOISE_MAKERS = {
    **{color: (lambda n, rng, sample_rate=audio.SAMPLE_RATE, slope=slope: shaped_noise(n, slope, rng))
       for color, slope in COLOR_SLOPES.items()},
    "water": water_noise, "hum": hum_noise, "babble": babble_noise, "fan": fan_noise,
    "rain": rain_noise, "traffic": traffic_noise,
}
NOISE_KINDS = tuple(NOISE_MAKERS)


def make_noise(kind, num_samples, rng, sample_rate=audio.SAMPLE_RATE):
    """Unit-RMS float32 noise of a kind in `NOISE_KINDS`."""
    if kind not in NOISE_MAKERS:
        raise cli.UserError(f"unknown noise kind {kind!r}; choose from {', '.join(NOISE_KINDS)}")
    if num_samples <= 0:
        raise cli.UserError(f"noise length must be positive, got {num_samples} samples")
    return NOISE_MAKERS[kind](int(num_samples), rng, sample_rate)


class NoiseBank:
    """Unit-RMS noise segments of any length, from a generated kind or a real recording (by file name).

    `bed_segment` cuts a stretch of a "noise bed" generated once per key (e.g. a speaker) and
    cached: a pure function of (source, seed, rng), and far cheaper than fresh babble per clip.
    """

    BED_SECONDS = 3

    def __init__(self, real_paths=()):
        self.real_paths = {os.path.basename(p): p for p in real_paths}
        self._recordings, self._beds = {}, collections.OrderedDict()

    @property
    def sources(self):
        """Every source name: the generated kinds, then the real recordings' file names."""
        return NOISE_KINDS + tuple(sorted(self.real_paths))

    def _recording(self, name):
        if name not in self._recordings:
            self._recordings[name] = audio.read_wav(self.real_paths[name]).astype(np.float64)
        return self._recordings[name]

    def segment(self, source, num_samples, rng):
        """Fresh noise of a generated kind, or a random stretch of a real recording (looped if short)."""
        if source in NOISE_MAKERS:
            return make_noise(source, num_samples, rng).astype(np.float64)
        return self._cut(self._recording(source), num_samples, rng)

    def bed_segment(self, key, source, seed, num_samples, rng):
        """A random stretch of the bed of `key` (made from `source` and `seed` on first use)."""
        if key not in self._beds:
            self._beds[key] = (make_noise(source, self.BED_SECONDS * audio.SAMPLE_RATE, np.random.default_rng(seed))
                               if source in NOISE_MAKERS else self._recording(source))
            if len(self._beds) > 4:  # callers use a few keys at a time: keep memory small
                self._beds.popitem(last=False)
        return self._cut(self._beds[key], num_samples, rng)

    @staticmethod
    def _cut(recording, num_samples, rng):
        start = int(rng.integers(0, len(recording)))
        piece = np.take(recording, np.arange(start, start + num_samples), mode="wrap").astype(np.float64)
        rms = np.sqrt(np.mean(piece ** 2))
        return piece / rms if rms > 0 else piece


def noise_file_name(kind):
    """File name of a generated noise recording (never a name the real dataset uses)."""
    return f"synthetic_{kind}_noise.wav"


def write_noise_file(path, kind, duration_s, rms, rng, sample_rate=audio.SAMPLE_RATE):
    """Writes `duration_s` seconds of `kind` noise at RMS `rms` (full-scale units) as 16-bit WAV."""
    samples = make_noise(kind, round(duration_s * sample_rate), rng, sample_rate) * rms
    peak = float(np.max(np.abs(samples)))
    if peak > 1.0:
        raise cli.UserError(f"{path}: RMS {rms:g} is too loud for {kind} noise (peaks reach {peak:.2f} of full "
                            "scale and would clip); choose a lower --rms/--dbfs")
    audio.write_wav(path, samples, sample_rate)


def parse_kinds(text):
    """A comma list of noise kinds (or 'all') as a tuple, checked."""
    kinds = NOISE_KINDS if text.strip() == "all" else tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in NOISE_MAKERS]
    if unknown or not kinds:
        raise cli.UserError(f"unknown noise kind(s) {unknown or text!r}; choose from {', '.join(NOISE_KINDS)} or 'all'")
    return kinds


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write into (created if missing), usually "
                                                     "<dataset>/train/audio/_background_noise_")
    parser.add_argument("--colors", default=",".join(COLOR_SLOPES),
                        help="comma list of noise kinds, or 'all'; kinds: " + ", ".join(NOISE_KINDS)
                             + " (default: the five colours)")
    parser.add_argument("--duration_s", type=float, default=60.0, help="length of each file in seconds (default 60)")
    level = parser.add_mutually_exclusive_group()
    level.add_argument("--rms", type=float, help=f"RMS level in full-scale units, 0 < rms < 1 (default {DEFAULT_RMS})")
    level.add_argument("--dbfs", type=float, help="RMS level in dB relative to full scale, e.g. -20")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes the same bytes")
    parser.add_argument("--overwrite", action="store_true", help="replace files that already exist")
    return parser


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        kinds = parse_kinds(args.colors)
    except ValueError as e:
        parser.error(str(e))
    rms = 10 ** (args.dbfs / 20.0) if args.dbfs is not None else (DEFAULT_RMS if args.rms is None else args.rms)
    if not 0 < rms < 1:
        parser.error(f"the level must be between 0 and 1 full scale (0 dBFS), got RMS {rms:g}")
    if args.duration_s <= 0:
        parser.error(f"--duration_s must be positive, got {args.duration_s}")
    os.makedirs(args.out, exist_ok=True)
    written = []
    for kind in kinds:
        path = os.path.join(args.out, noise_file_name(kind))
        if os.path.exists(path) and not args.overwrite:
            log.info("keeping existing %s (pass --overwrite to replace it)", path)
            continue
        # One generator per kind, seeded by (seed, kind's index in NOISE_KINDS): a file does not change
        # when other kinds are added to or removed from the list.
        rng = np.random.default_rng([args.seed, NOISE_KINDS.index(kind)])
        write_noise_file(path, kind, args.duration_s, rms, rng)
        written.append(path)
    print(f"wrote {len(written)} noise file(s) of {args.duration_s:g} s at RMS {rms:.4g} "
          f"({20 * np.log10(rms):.1f} dBFS) into {args.out}")
    return written

