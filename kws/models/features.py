"""Audio feature layers that live inside the models: framing, log-mel spectrogram, MFCC.

Every model in `model.py` takes the raw waveform, so feature extraction is part of the saved
`.keras` file, of the frozen GraphDef and of the TFLite model: no script has to repeat the
feature settings used in training. The layers use only `keras.ops` (reshape, strided slice,
concatenate, rfft, matmul, log), all of which TFLite runs with builtin ops; the FFT stays float
in an int8-quantised model (the converter falls back to float for RFFT2D).

Why the mel filterbank is not a matrix product: TFLite's dynamic-range int8 ("hybrid") kernels
quantise the *input* of every fully connected layer with a constant weight to 8 bits at each
inference. A dense mel matrix product is such a layer, and its input, the power spectrum, spans
five or more orders of magnitude within one frame: scaled to 8 bits, all but the loudest bins
become zero and their log-mel values fall to log(log_offset). That cost log-mel and MFCC models
half of their decisions in int8 (52% top-1 agreement with float for a DS-CNN trained on real
speech). Each spectrum bin feeds at most two triangles, so the filterbank is applied as a gather
of the nonzero (bin, band) pairs, a multiply and a segment sum: builtin float ops that no
quantiser touches, ~25x fewer multiply-adds than the dense product, and ~6x smaller (the constants
of a 40-band, 1024-point filterbank are 12 KB instead of 82 KB).

Layers (all registered under the Keras package "kws", so `keras.models.load_model` needs no
custom_objects once this module is imported):
- `Frame(frame_length_samples, frame_step_samples)`: [batch, samples] -> [batch, frames, frame_length]
  (overlapping windows, no padding: frames = 1 + (samples - frame_length) // frame_step).
- `LogMelSpectrogram(...)`: [batch, samples] -> [batch, frames, num_mel_bins] = log(mel power + eps),
  periodic Hann window, power spectrum of an FFT of the next power of two >= the frame length,
  HTK mel scale (the same triangles as `tf.signal.linear_to_mel_weight_matrix`), applied sparsely
  (see `sparse_filterbank`).
- `MFCC(num_coefficients)`: [batch, frames, num_mel_bins] log-mel -> [batch, frames, num_coefficients]
  by an orthonormal DCT-II applied as a fixed matrix product.
- `SpecAugment(masks, ...)`: random time and feature-band masks in training, the identity otherwise.
- `MuLaw(mu)`: sign(x) log(1 + mu |x|) / log(1 + mu), the companding of 8-bit telephone audio, in
  front of the raw-waveform models' first convolution (why: see the class).

This module is a library: nothing runs at import.
"""

import math

import keras
import numpy as np
import scipy.fft
from keras import ops

from kws import cli
from kws.data.audio import SAMPLE_RATE

# HTK mel scale constants, as in tf.signal and keras.layers.MelSpectrogram.
_MEL_BREAK_FREQUENCY_HZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0
# Framing is a reshape plus one strided slice per frame_length/gcd part; beyond this many parts the
# graph would grow large, and any whole number of milliseconds at 16 kHz stays far below it.
_MAX_FRAME_PARTS = 64


def num_frames(signal_samples, frame_length_samples, frame_step_samples):
    """Frames that fit into a signal without padding (at least 1, else a ValueError)."""
    if frame_length_samples < 1 or frame_step_samples < 1:
        raise cli.UserError(
            f"frame length ({frame_length_samples}) and step ({frame_step_samples}) must be >= 1 sample"
        )
    if signal_samples < frame_length_samples:
        raise cli.UserError(f"a {signal_samples}-sample signal is shorter than one {frame_length_samples}-sample frame")
    return 1 + (signal_samples - frame_length_samples) // frame_step_samples


def frame_signal(signal, frame_length_samples, frame_step_samples):
    """Overlapping frames of `signal` [batch, samples] -> [batch, frames, frame_length_samples].

    Equal to `tf.signal.frame(signal, frame_length, frame_step)` but built from a reshape and
    strided slices so that TFLite runs it with builtins: the signal is cut into blocks of
    g = gcd(length, step) samples and frame i is blocks [i*step/g, i*step/g + length/g).
    """
    signal_samples = signal.shape[-1]
    if signal_samples is None:
        raise ValueError("framing needs a static signal length (the model input is [batch, clip samples])")
    frames = num_frames(signal_samples, frame_length_samples, frame_step_samples)
    block = math.gcd(frame_length_samples, frame_step_samples)
    parts, hop_blocks = frame_length_samples // block, frame_step_samples // block
    if parts > _MAX_FRAME_PARTS:
        raise cli.UserError(
            f"frame length {frame_length_samples} and step {frame_step_samples} samples share too small a divisor "
            f"({block}); use lengths in whole milliseconds (multiples of 16 samples at 16 kHz)"
        )
    used_blocks = (frames - 1) * hop_blocks + parts
    blocks = ops.reshape(signal[:, : used_blocks * block], (-1, used_blocks, block))
    last = (frames - 1) * hop_blocks + 1
    return ops.concatenate([blocks[:, i : i + last : hop_blocks] for i in range(parts)], axis=-1)


def hertz_to_mel(frequencies_hz):
    """HTK mel scale."""
    return _MEL_HIGH_FREQUENCY_Q * np.log1p(np.asarray(frequencies_hz, dtype=np.float64) / _MEL_BREAK_FREQUENCY_HZ)


def mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, fmin_hz, fmax_hz):
    """[num_spectrogram_bins, num_mel_bins] triangular filters, as `tf.signal.linear_to_mel_weight_matrix`."""
    if not 0.0 <= fmin_hz < fmax_hz <= sample_rate / 2:
        raise cli.UserError(f"need 0 <= fmin_hz < fmax_hz <= {sample_rate / 2} Hz, got {fmin_hz} and {fmax_hz}")
    # The DC bin carries no useful energy and tf.signal drops it too.
    bin_hz = np.linspace(0.0, sample_rate / 2, num_spectrogram_bins)[1:]
    bin_mel = hertz_to_mel(bin_hz)[:, None]
    edges = np.linspace(hertz_to_mel(fmin_hz), hertz_to_mel(fmax_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, [[1, 0], [0, 0]]).astype(np.float32)


def sparse_filterbank(weights):
    """(bins, bands, values) of the nonzero entries of a [bins, bands] filterbank, ordered by band.

    A band without any nonzero weight (possible with few FFT bins and many mel bands) gets one
    zero entry, so that a segment sum over the bands returns every band.
    """
    bins, bands = np.nonzero(weights)
    empty = np.setdiff1d(np.arange(weights.shape[1]), bands)
    bins, bands = np.concatenate([bins, np.zeros_like(empty)]), np.concatenate([bands, empty])
    order = np.lexsort((bins, bands))
    bins, bands = bins[order], bands[order]
    return bins.astype(np.int32), bands.astype(np.int32), weights[bins, bands].astype(np.float32)


def apply_sparse_filterbank(spectrum, filterbank, num_bands):
    """[batch, frames, bins] -> [batch, frames, num_bands]: spectrum @ the dense filterbank, computed
    as a gather, a multiply and a segment sum over `sparse_filterbank`'s entries."""
    bins, bands, values = filterbank
    frames = spectrum.shape[1]
    columns = ops.transpose(ops.reshape(spectrum, (-1, spectrum.shape[-1])))  # [bins, batch * frames]
    banded = ops.segment_sum(ops.take(columns, bins, axis=0) * values[:, None], bands, sorted=True)
    return ops.reshape(ops.transpose(banded), (-1, frames, num_bands))


@keras.saving.register_keras_serializable(package="kws")
class Frame(keras.layers.Layer):
    """[batch, samples] -> [batch, frames, frame_length_samples] overlapping windows (no padding).

    Args:
      frame_length_samples: window length in samples (the Raspberry Pi model uses 40 = 2.5 ms).
      frame_step_samples: hop between window starts in samples (20 = 1.25 ms for the Pi model).
    """

    def __init__(self, frame_length_samples, frame_step_samples, **kwargs):
        super().__init__(**kwargs)
        self.frame_length_samples = int(frame_length_samples)
        self.frame_step_samples = int(frame_step_samples)

    def call(self, inputs):
        return frame_signal(inputs, self.frame_length_samples, self.frame_step_samples)

    def compute_output_shape(self, input_shape):
        frames = num_frames(input_shape[-1], self.frame_length_samples, self.frame_step_samples)
        return (input_shape[0], frames, self.frame_length_samples)

    def multiply_adds(self, input_shape):
        """Framing only moves data."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(frame_length_samples=self.frame_length_samples, frame_step_samples=self.frame_step_samples)
        return config


@keras.saving.register_keras_serializable(package="kws")
class LogMelSpectrogram(keras.layers.Layer):
    """[batch, samples] waveform -> [batch, frames, num_mel_bins] log(mel power + log_offset).

    Args:
      sample_rate: input sample rate in Hz.
      frame_length_ms: analysis window in milliseconds (30 ms = 480 samples, the TF tutorial's).
      frame_step_ms: hop between windows in milliseconds (10 ms -> 98 frames per second of audio).
      num_mel_bins: mel filters.
      fmin_hz, fmax_hz: lowest and highest filter edge in Hz (fmax_hz None = sample_rate / 2).
      log_offset: added to the mel power before the log, so that silence stays finite.
    """

    def __init__(self, sample_rate=SAMPLE_RATE, frame_length_ms=30.0, frame_step_ms=10.0, num_mel_bins=40,
                 fmin_hz=20.0, fmax_hz=None, log_offset=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)
        self.frame_length_ms = float(frame_length_ms)
        self.frame_step_ms = float(frame_step_ms)
        self.num_mel_bins = int(num_mel_bins)
        self.fmin_hz = float(fmin_hz)
        self.fmax_hz = None if fmax_hz is None else float(fmax_hz)
        self.log_offset = float(log_offset)
        self.frame_length_samples = round(self.sample_rate * self.frame_length_ms / 1000)
        self.frame_step_samples = round(self.sample_rate * self.frame_step_ms / 1000)
        self.fft_length = 2 ** math.ceil(math.log2(self.frame_length_samples))
        fmax_hz = self.sample_rate / 2 if self.fmax_hz is None else self.fmax_hz
        # Constants, not weights: they are fixed by the config and need not be saved or trained.
        self._window = np.hanning(self.frame_length_samples + 1)[:-1].astype(np.float32)  # periodic Hann
        self._mel_filterbank = sparse_filterbank(mel_weight_matrix(
            self.num_mel_bins, self.fft_length // 2 + 1, self.sample_rate, self.fmin_hz, fmax_hz
        ))

    def call(self, inputs):
        frames = frame_signal(inputs, self.frame_length_samples, self.frame_step_samples)
        real, imag = ops.rfft(frames * self._window, fft_length=self.fft_length)
        power = real * real + imag * imag
        mel_power = apply_sparse_filterbank(power, self._mel_filterbank, self.num_mel_bins)
        return ops.log(mel_power + self.log_offset)

    def compute_output_shape(self, input_shape):
        frames = num_frames(input_shape[-1], self.frame_length_samples, self.frame_step_samples)
        return (input_shape[0], frames, self.num_mel_bins)

    def multiply_adds(self, input_shape):
        """Window + real FFT (counted as N*log2(N) for N = fft_length) + power + mel filterbank entries."""
        frames = num_frames(input_shape[-1], self.frame_length_samples, self.frame_step_samples)
        bins = self.fft_length // 2 + 1
        fft = self.fft_length * int(math.log2(self.fft_length))
        return frames * (self.frame_length_samples + fft + 2 * bins + len(self._mel_filterbank[2]))

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate, frame_length_ms=self.frame_length_ms, frame_step_ms=self.frame_step_ms,
            num_mel_bins=self.num_mel_bins, fmin_hz=self.fmin_hz, fmax_hz=self.fmax_hz, log_offset=self.log_offset,
        )
        return config


@keras.saving.register_keras_serializable(package="kws")
class MFCC(keras.layers.Layer):
    """[batch, frames, num_mel_bins] log-mel -> [batch, frames, num_coefficients] cepstral coefficients.

    The first `num_coefficients` outputs of an orthonormal DCT-II over the mel axis, applied as a
    fixed matrix product (scipy builds the matrix).

    Args:
      num_coefficients: cepstral coefficients kept (Hello Edge DS-CNN uses 10 of 40 mel bins).
    """

    def __init__(self, num_coefficients=10, **kwargs):
        super().__init__(**kwargs)
        self.num_coefficients = int(num_coefficients)

    def build(self, input_shape):
        num_mel_bins = input_shape[-1]
        if not 1 <= self.num_coefficients <= num_mel_bins:
            raise cli.UserError(
                f"num_coefficients must be in 1..{num_mel_bins} (the mel bins), got {self.num_coefficients}"
            )
        dct = scipy.fft.dct(np.eye(num_mel_bins), type=2, norm="ortho", axis=0)
        self._dct_matrix = dct[: self.num_coefficients].T.astype(np.float32)

    def call(self, inputs):
        return ops.matmul(inputs, self._dct_matrix)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_coefficients)

    def multiply_adds(self, input_shape):
        return math.prod(input_shape[1:]) * self.num_coefficients

    def get_config(self):
        config = super().get_config()
        config.update(num_coefficients=self.num_coefficients)
        return config


@keras.saving.register_keras_serializable(package="kws")
class SpecAugment(keras.layers.Layer):
    """Training-only masking of time spans and feature bands (SpecAugment, Park et al. 2019).

    Input [batch, frames, bins] of standardised features; in training, each example gets
    `masks` time masks of 0..`time_fraction` x frames frames and `masks` feature masks of
    0..`bin_fraction` x bins bins, each set to 0 (the features' mean after standardisation), at
    random positions from a seeded generator (its state is a model variable, so a resumed run
    draws the same masks). At inference it is the identity and adds no operator to an export.

    Args:
      masks: masks of each kind per example (0 = off).
      time_fraction, bin_fraction: the widest mask, as a fraction of the frames / bins (>= 1 each).
      seed: seed of the mask positions (None: from Keras' global seed).
    """

    def __init__(self, masks=2, time_fraction=0.1, bin_fraction=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.masks = int(masks)
        self.time_fraction = float(time_fraction)
        self.bin_fraction = float(bin_fraction)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _keep(self, batch, size, widest):
        """[batch, size] 1.0 outside, 0.0 inside `masks` random spans of 0..widest positions."""
        positions = ops.arange(size, dtype="float32")[None, :]
        keep = ops.ones((batch, size))
        for _ in range(self.masks):
            width = ops.floor(keras.random.uniform((batch, 1), 0, widest + 1, seed=self.seed_generator))
            start = ops.floor(keras.random.uniform((batch, 1), 0, 1, seed=self.seed_generator) * (size - width + 1))
            inside = ops.logical_and(positions >= start, positions < start + width)
            keep = keep * (1.0 - ops.cast(inside, "float32"))
        return keep

    def call(self, inputs, training=None):
        if not training or not self.masks:
            return inputs
        batch, frames, bins = ops.shape(inputs)[0], inputs.shape[1], inputs.shape[2]
        time_keep = self._keep(batch, frames, max(1, round(self.time_fraction * frames)))
        bin_keep = self._keep(batch, bins, max(1, round(self.bin_fraction * bins)))
        return inputs * time_keep[:, :, None] * bin_keep[:, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(masks=self.masks, time_fraction=self.time_fraction, bin_fraction=self.bin_fraction,
                      seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="kws")
class MuLaw(keras.layers.Layer):
    """mu-law companding of a waveform in [-1, 1]: sign(x) log(1 + mu |x|) / log(1 + mu).

    On by default in the raw-waveform models (`mu_law`). An int8 export quantises the
    input of their first convolution, the waveform itself, to 8 bits at every inference (dynamic
    range) or at a fixed scale (full int8). Linear 8-bit audio keeps ~48 dB between the loudest
    peak and the quietest step, so the quiet parts of a word get few levels: a `pi` model trained
    on real speech kept 96.7% of its decisions when just that input was quantised. Companded, 8
    bits keep quiet speech as telephones do (mu = 255: G.711's law), and int8 keeps 99.7-100% of
    the decisions. But the models learned less well from the companded waveform: `pi` lost ~3
    points of validation accuracy with it, on the synthetic demo and on real speech (README, "A
    Raspberry Pi model that is right on real voices"), more than dynamic-range int8 costs the
    linear model, so the Pi experiments (000, 320) turn it off: in dynamic-range int8 the layer
    that reads the linear waveform stays float (freeze_graph.py, quantization.py), and the linear
    `pi` student keeps 99.7-100% of its decisions. Keep it for full-integer int8 on integer-only
    hardware, where the input scale is fixed.

    Args:
      mu: the compression (255: 8-bit telephony).
    """

    def __init__(self, mu=255.0, **kwargs):
        super().__init__(**kwargs)
        self.mu = float(mu)

    def call(self, inputs):
        return ops.sign(inputs) * ops.log(1.0 + self.mu * ops.abs(inputs)) / math.log1p(self.mu)

    def compute_output_shape(self, input_shape):
        return input_shape

    def multiply_adds(self, input_shape):
        return 0  # element-wise

    def get_config(self):
        config = super().get_config()
        config.update(mu=self.mu)
        return config
