"""WAV reading and writing shared by every script.

Reading accepts what users actually have: integer PCM of 8, 16, 24 or 32 bits and IEEE float
of 32 or 64 bits (plain or WAVE_FORMAT_EXTENSIBLE headers), mono or several channels (averaged
to mono), at any sample rate from 1,000 to 384,000 Hz (resampled to 16 kHz by `Resampler`, scipy's
polyphase filter rebuilt in numpy). Samples come back as float32 in [-1, 1] (float samples beyond
full scale are clipped). Anything else -- an empty or truncated file, a file that is not a WAV, a
compressed WAV, a WAV without samples, a sample rate outside that range, a float WAV holding NaN or
infinite samples (no recording has them: the file is damaged, and silence or full scale in their
place would train or predict as if it were audio) -- raises `WavError` (a `cli.UserError`) whose
message names the file and the problem.

Clip-length policy (`fit_clip`), the one the TensorFlow tutorial's `decode_wav(desired_samples=)`
applies: a clip shorter than the clip length is padded with zeros *at the end*; a longer one keeps
its start. Time-shift augmentation moves the word afterwards, so the padding side is not learned
as a cue. The clip length is `CLIP_SAMPLES` (1 s) unless a run says otherwise (its setting
`clip_duration_ms`, turned into samples by `clip_samples`; a model's waveform input then has that
length and every later script reads it from the model).

`speech_span` finds the spoken part of a clip by frame energy (make_streaming_test.py places it,
stream_augment.py moves it about a training window).

Writing produces 16-bit PCM mono, atomically (a temporary file renamed into place).

Resampling (`resample`, `Resampler`): the output of `scipy.signal.resample_poly(x, up, down)` with
its default filter (a Kaiser-windowed sinc, beta 5, 10 x max(up, down) taps each side), computed
with numpy alone, so that the Raspberry Pi scripts read a 44.1 or 48 kHz microphone's clips. A
`Resampler` takes its input in pieces of any size (a live stream) and gives, piece by piece, what
resample_poly gives for the whole input (to float rounding).

Only numpy and the standard library are imported here, so the Raspberry Pi scripts can use this
module.
"""

import math
import struct

import numpy as np

from kws import cli

SAMPLE_RATE = 16000
# Rates a recording can have; a header outside them is damaged (resampling from 1 Hz or 4 GHz
# would need gigabytes).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000
CLIP_MS = 1000  # the default clip length: Speech Commands' one-second clips
CLIP_SAMPLES = CLIP_MS * SAMPLE_RATE // 1000

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_INT_DTYPES = {8: np.uint8, 16: np.dtype("<i2"), 32: np.dtype("<i4")}


class WavError(cli.UserError):
    """A file that cannot be read as audio; the message names the file and the problem."""

    def __init__(self, name, problem):
        super().__init__(f"{name}: {problem}")
        self.name = str(name)
        self.problem = problem


def _chunks(data, name):
    """Yields (chunk id, payload) of a RIFF/WAVE byte string, checking the header."""
    if len(data) == 0:
        raise WavError(name, "empty file")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        kind = "RIFX (big-endian) WAV is not supported" if data[:4] == b"RIFX" else "not a WAV file"
        raise WavError(name, f"{kind} (no RIFF/WAVE header)")
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        payload = data[offset + 8: offset + 8 + size]
        yield chunk_id, payload, size
        offset += 8 + size + (size & 1)  # chunks are word-aligned


def parse_format(fmt, name):
    """Returns (format tag, channels, sample rate, bits per sample) from a 'fmt ' payload."""
    if len(fmt) < 16:
        raise WavError(name, "truncated 'fmt ' chunk")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 26:
            raise WavError(name, "truncated WAVE_FORMAT_EXTENSIBLE header")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first two bytes of the sub-format GUID
    if tag not in (_PCM, _FLOAT):
        raise WavError(name, f"compressed or unsupported WAV encoding (format tag {tag:#06x}); "
                             "only integer PCM and IEEE float are read")
    if channels == 0 or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise WavError(name, f"invalid header ({channels} channels, {rate} Hz; rates from {MIN_SAMPLE_RATE} "
                             f"to {MAX_SAMPLE_RATE} Hz are read)")
    if (tag == _PCM and bits not in (8, 16, 24, 32)) or (tag == _FLOAT and bits not in (32, 64)):
        kind = "integer" if tag == _PCM else "float"
        raise WavError(name, f"unsupported sample size: {bits}-bit {kind}")
    return tag, channels, rate, bits


def samples_to_float(raw, tag, bits):
    """Converts little-endian sample bytes to float32 in [-1, 1]."""
    if tag == _FLOAT:
        return np.frombuffer(raw, "<f4" if bits == 32 else "<f8").astype(np.float32)
    if bits == 24:
        triplets = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        return (values / float(1 << 23)).astype(np.float32)
    values = np.frombuffer(raw, _INT_DTYPES[bits]).astype(np.float32)
    if bits == 8:  # 8-bit WAV is unsigned, centred on 128
        return (values - 128.0) / 128.0
    return values / float(1 << (bits - 1))


def decode_wav(data, name="<bytes>", target_rate=SAMPLE_RATE):
    """Decodes WAV file bytes to mono float32 at `target_rate` (None keeps the file's rate)."""
    fmt = samples = None
    for chunk_id, payload, size in _chunks(data, name):
        if chunk_id == b"fmt ":
            fmt = parse_format(payload, name)
        elif chunk_id == b"data":
            if len(payload) < size:
                raise WavError(name, f"truncated: the header declares {size} bytes of samples, "
                                     f"the file holds {len(payload)}")
            samples = payload
            break
    if fmt is None:
        raise WavError(name, "no 'fmt ' chunk (truncated or not a WAV file)")
    if samples is None:
        raise WavError(name, "no 'data' chunk (truncated file?)")
    tag, channels, rate, bits = fmt
    frame_bytes = channels * bits // 8
    frames = len(samples) // frame_bytes
    if frames == 0:
        raise WavError(name, "no samples")
    audio = samples_to_float(samples[:frames * frame_bytes], tag, bits).reshape(frames, channels)
    mono = audio.mean(axis=1, dtype=np.float32) if channels > 1 else audio[:, 0]
    if tag == _FLOAT and not np.isfinite(mono).all():
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise WavError(name, f"{bad} of {frames} float samples are NaN or infinite: a damaged file, not audio")
    if target_rate and rate != target_rate:
        mono = resample(mono, rate, target_rate)
    return np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)


def read_wav(path, target_rate=SAMPLE_RATE):
    """Reads a WAV file as mono float32 in [-1, 1] at `target_rate` Hz."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise WavError(path, f"cannot open ({e.strerror or e})") from e
    return decode_wav(data, name=str(path), target_rate=target_rate)


def _rate_ratio(from_rate, to_rate):
    """(up, down): to_rate / from_rate as a reduced fraction of positive integers."""
    if int(from_rate) != from_rate or int(to_rate) != to_rate or from_rate < 1 or to_rate < 1:
        raise ValueError(f"sample rates must be positive integers, got {from_rate} and {to_rate} Hz")
    g = math.gcd(int(from_rate), int(to_rate))
    return int(to_rate) // g, int(from_rate) // g


class Resampler:
    """Streaming polyphase resampler: `process(piece)` returns the output samples that the input so far
    determines; `flush()` the rest (the input is then taken to end with zeros, as resample_poly does).

    Output sample n is sum_k h[t_n - k * up] * x[k], t_n = n * down + offset, with h scipy's filter
    (gain `up`) and the offset resample_poly uses to centre it; each output needs the input up to
    index t_n // up, a look-ahead of 10 x max(up, down) / up input samples (under 2 ms from 8-48 kHz).
    """

    def __init__(self, from_rate, to_rate):
        self.up, self.down = _rate_ratio(from_rate, to_rate)
        half_len = 10 * max(self.up, self.down)
        taps = np.arange(2 * half_len + 1) - half_len
        h = np.sinc(taps / max(self.up, self.down)) * np.kaiser(len(taps), 5.0)
        h *= self.up / h.sum()  # unit gain at DC after zero-stuffing by `up`
        pre_pad = self.down - half_len % self.down  # resample_poly's centring
        self._offset = (half_len + pre_pad) // self.down * self.down - pre_pad
        self._taps = -(-len(h) // self.up)
        # Polyphase form: row p holds h[p], h[p + up], ...: the coefficients of outputs with t_n % up == p.
        self._phases = np.zeros((self.up, self._taps))
        for p in range(self.up):
            coefficients = h[p::self.up]
            self._phases[p, :len(coefficients)] = coefficients
        self._buffer = np.zeros(0, np.float64)
        self._buffer_start = 0  # input index of _buffer[0]
        self._received = 0  # input samples so far
        self._produced = 0  # output samples so far

    def _outputs(self, end):
        """Output samples [_produced, end) from the buffered input (zeros outside it)."""
        n = np.arange(self._produced, end, dtype=np.int64)
        t = n * self.down + self._offset
        newest = t // self.up
        low = newest[0] - self._taps + 1  # the input span these outputs read, zero-padded at both ends
        span = np.zeros(newest[-1] - low + 1)
        first, last = max(low, self._buffer_start), min(newest[-1] + 1, self._received)
        span[first - low:last - low] = self._buffer[first - self._buffer_start:last - self._buffer_start]
        rows = (newest - low)[:, None] - np.arange(self._taps)[None, :]  # row n: inputs newest_n, newest_n - 1, ...
        y = np.einsum("ij,ij->i", self._phases[t - newest * self.up], span[rows])
        self._produced = end
        oldest_needed = max(0, (end * self.down + self._offset) // self.up - self._taps + 1)
        if oldest_needed > self._buffer_start:  # drop input no later output reads
            self._buffer = self._buffer[oldest_needed - self._buffer_start:]
            self._buffer_start = oldest_needed
        return y.astype(np.float32)

    def process(self, samples, max_outputs=4096):
        """Resampled float32 output that the input so far determines (`max_outputs` per block: small temporaries)."""
        samples = np.asarray(samples, np.float64).ravel()
        self._buffer = np.concatenate([self._buffer, samples])
        self._received += len(samples)
        # the outputs whose newest input sample, t_n // up, has arrived
        ready = (self._received * self.up - 1 - self._offset) // self.down + 1
        return self._drain(ready, max_outputs)

    def flush(self, max_outputs=4096):
        """The remaining output of a finished input: ceil(input * up / down) samples in all."""
        return self._drain(-(-self._received * self.up // self.down), max_outputs)

    def _drain(self, end, max_outputs):
        blocks = [self._outputs(min(start + max_outputs, end)) for start in range(self._produced, end, max_outputs)]
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def resample(samples, from_rate, to_rate):
    """`samples` at `to_rate` Hz: scipy.signal.resample_poly's result, computed with numpy (see Resampler)."""
    if from_rate == to_rate:
        return np.asarray(samples, np.float32)
    resampler = Resampler(from_rate, to_rate)
    head = resampler.process(samples)
    return np.concatenate([head, resampler.flush()])


def clip_samples(clip_ms):
    """Samples of a clip `clip_ms` milliseconds long at SAMPLE_RATE (a whole number: 1 ms is 16 samples)."""
    return int(clip_ms) * SAMPLE_RATE // 1000


def fit_clip(samples, clip_samples=CLIP_SAMPLES):
    """Zero-pads at the end or keeps the start, so the result has exactly `clip_samples`."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= clip_samples:
        return samples[:clip_samples]
    return np.pad(samples, (0, clip_samples - len(samples)))


def load_clip(path, clip_samples=CLIP_SAMPLES):
    """A WAV file as exactly one clip of `clip_samples` float32 samples at 16 kHz."""
    return fit_clip(read_wav(path), clip_samples)


SPEECH_FRAME_SAMPLES = 160  # 10 ms energy frames
SPEECH_BELOW_PEAK_DB = 35.0
SPEECH_ABOVE_FLOOR_DB = 8.0


def speech_span(samples):
    """(first, end) sample of the spoken part of a clip: from the first to the last 10 ms frame within
    35 dB of the loudest frame and 8 dB above the quietest tenth of the frames (the clip's floor)."""
    frames = len(samples) // SPEECH_FRAME_SAMPLES
    if frames == 0:
        return 0, len(samples)
    power = np.mean(np.square(samples[:frames * SPEECH_FRAME_SAMPLES].reshape(frames, -1), dtype=np.float64), axis=1)
    level_db = 10 * np.log10(power + 1e-12)
    threshold = max(level_db.max() - SPEECH_BELOW_PEAK_DB, np.percentile(level_db, 10) + SPEECH_ABOVE_FLOOR_DB)
    active = np.flatnonzero(level_db >= min(threshold, level_db.max()))
    return int(active[0]) * SPEECH_FRAME_SAMPLES, (int(active[-1]) + 1) * SPEECH_FRAME_SAMPLES


def float_to_int16(samples):
    """float32 in [-1, 1] to int16, rounded and clipped (the inverse of `int16_to_float`)."""
    scaled = np.round(np.asarray(samples, dtype=np.float32) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def int16_to_float(samples):
    """int16 to float32 in [-1, 1), the scale `decode_wav` uses for 16-bit files."""
    return np.asarray(samples, dtype=np.float32) / 32768.0


def wav_bytes(samples, sample_rate=SAMPLE_RATE):
    """A 16-bit PCM mono WAV file as bytes; float input is taken to be in [-1, 1]."""
    samples = np.asarray(samples)
    pcm = samples if samples.dtype == np.int16 else float_to_int16(samples)
    payload = pcm.astype("<i2").tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(payload), b"WAVE", b"fmt ", 16,
                         _PCM, 1, sample_rate, sample_rate * 2, 2, 16, b"data", len(payload))
    return header + payload


def write_wav(path, samples, sample_rate=SAMPLE_RATE):
    """Writes a 16-bit PCM mono WAV atomically (`cli.write_bytes`)."""
    cli.write_bytes(path, wav_bytes(samples, sample_rate))
