"""WAV reading and writing shared by every script.

Reading accepts what users actually have: integer PCM of 8, 16, 24 or 32 bits and IEEE float
of 32 or 64 bits (plain or WAVE_FORMAT_EXTENSIBLE headers), mono or several channels (averaged
to mono), at any sample rate from 1,000 to 384,000 Hz (resampled to 16 kHz with scipy's polyphase
filter). Samples come back as float32 in [-1, 1] (float samples beyond full scale are clipped).
Anything else -- an empty or truncated file, a file that is not a WAV, a compressed WAV, a WAV
without samples, a sample rate outside that range, a float WAV holding NaN or infinite samples
(no recording has them: the file is damaged, and silence or full scale in their place would
train or predict as if it were audio) -- raises `WavError` (a `cli.UserError`) whose message
names the file and the problem.

Clip-length policy (`fit_clip`), the one the TensorFlow tutorial's `decode_wav(desired_samples=)`
applies: a clip shorter than one second is padded with zeros *at the end*; a longer one keeps its
first second. Time-shift augmentation moves the word afterwards, so the padding side is not
learned as a cue.

Writing produces 16-bit PCM mono, atomically (a temporary file renamed into place).

Only numpy and the standard library are imported here, so the Raspberry Pi script can use this
module; scipy is imported only when a file needs resampling.
"""

import math
import os
import struct

import numpy as np

import cli

SAMPLE_RATE = 16000
# Rates a recording can have; a header outside them is damaged (resampling from 1 Hz or 4 GHz
# would need gigabytes).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000
CLIP_SAMPLES = 16000

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


def _parse_format(fmt, name):
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


def _samples_to_float(raw, tag, bits):
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
            fmt = _parse_format(payload, name)
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
    audio = _samples_to_float(samples[:frames * frame_bytes], tag, bits).reshape(frames, channels)
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


def resample(samples, from_rate, to_rate):
    """Polyphase resampling (scipy's anti-aliased FIR) between integer sample rates."""
    from scipy.signal import resample_poly  # only here: the Pi script never resamples

    g = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(samples, int(to_rate) // g, int(from_rate) // g).astype(np.float32)


def fit_clip(samples, clip_samples=CLIP_SAMPLES):
    """Zero-pads at the end or keeps the start, so the result has exactly `clip_samples`."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= clip_samples:
        return samples[:clip_samples]
    return np.pad(samples, (0, clip_samples - len(samples)))


def load_clip(path, clip_samples=CLIP_SAMPLES):
    """A WAV file as exactly one clip of float32 samples at 16 kHz."""
    return fit_clip(read_wav(path), clip_samples)


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
    """Writes a 16-bit PCM mono WAV atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(wav_bytes(samples, sample_rate))
    os.replace(tmp, path)
