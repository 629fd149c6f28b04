"""audio.py: every WAV format the reader accepts, every kind of bad file, the clip policy."""

import struct

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from kws.data import audio


def make_wav(payload, tag=1, channels=1, rate=16000, bits=16, extensible=False, declared=None):
    """WAV bytes with an arbitrary format header (for formats scipy cannot write)."""
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHI16s", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0,
                          struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(payload) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


RAMP = np.linspace(-0.9, 0.9, 1600).astype(np.float32)


@pytest.mark.parametrize("dtype, scale", [(np.int16, 32768), (np.int32, 2**31), (np.float32, 1.0),
                                          (np.float64, 1.0)])
def test_reads_scipy_written_formats(tmp_path, dtype, scale):
    path = tmp_path / "x.wav"
    scipy.io.wavfile.write(path, 16000, (RAMP * scale).astype(dtype) if scale != 1 else RAMP.astype(dtype))
    np.testing.assert_allclose(audio.read_wav(path), RAMP, atol=1e-4)


def test_reads_8_bit_unsigned(tmp_path):
    path = tmp_path / "x.wav"
    scipy.io.wavfile.write(path, 16000, np.round(RAMP * 127 + 128).astype(np.uint8))
    np.testing.assert_allclose(audio.read_wav(path), RAMP, atol=1 / 64)


def test_reads_24_bit_and_extensible_header():
    ints = np.round(RAMP * (2**23 - 1)).astype(np.int32)
    raw = np.stack([ints & 0xFF, (ints >> 8) & 0xFF, (ints >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    for extensible in (False, True):
        samples = audio.decode_wav(make_wav(raw, bits=24, extensible=extensible))
        np.testing.assert_allclose(samples, RAMP, atol=1e-6)


def test_extensible_float():
    samples = audio.decode_wav(make_wav(RAMP.tobytes(), tag=3, bits=32, extensible=True))
    np.testing.assert_array_equal(samples, RAMP)


def test_channels_are_averaged():
    stereo = np.stack([RAMP, np.zeros_like(RAMP)], axis=1)
    samples = audio.decode_wav(make_wav(audio.float_to_int16(stereo).tobytes(), channels=2))
    np.testing.assert_allclose(samples, RAMP / 2, atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resamples_to_16k_keeping_pitch(tmp_path, rate):
    seconds = 0.5
    t = np.arange(int(rate * seconds)) / rate
    path = tmp_path / "tone.wav"
    scipy.io.wavfile.write(path, rate, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    samples = audio.read_wav(path)
    assert len(samples) == pytest.approx(16000 * seconds, abs=1)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 16000 / len(samples) == pytest.approx(440, abs=4)
    assert np.sqrt(np.mean(samples[200:-200] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


RATE_PAIRS = [(48000, 16000), (44100, 16000), (8000, 16000), (22050, 16000), (16000, 8000), (11025, 16000)]


@pytest.mark.parametrize("from_rate, to_rate", RATE_PAIRS)
def test_numpy_resampling_equals_scipy_resample_poly(from_rate, to_rate):
    rng = np.random.default_rng(from_rate)
    for length in (1, 7, 300, 9001):
        x = (0.3 * rng.standard_normal(length)).astype(np.float32)
        expected = scipy.signal.resample_poly(x, to_rate, from_rate)
        got = audio.resample(x, from_rate, to_rate)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("from_rate, to_rate", RATE_PAIRS[:3])
def test_streamed_resampling_in_pieces_of_any_size_equals_the_whole(from_rate, to_rate):
    rng = np.random.default_rng(1)
    x = (0.3 * rng.standard_normal(20000)).astype(np.float32)
    resampler, pieces, start = audio.Resampler(from_rate, to_rate), [], 0
    for size in [1, 2, 5000, 0, 37, *rng.integers(1, 2000, 40)]:  # includes empty and one-sample pieces
        pieces.append(resampler.process(x[start:start + size]))
        start += size
    pieces += [resampler.process(x[start:]), resampler.flush()]
    streamed = np.concatenate(pieces)
    np.testing.assert_allclose(streamed, scipy.signal.resample_poly(x, to_rate, from_rate), atol=1e-5)
    # a live stream waits for no more than the filter's look-ahead (under 2 ms)
    live = audio.Resampler(from_rate, to_rate)
    produced = len(live.process(x[:8000]))
    assert produced >= (8000 - 0.002 * from_rate) * to_rate / from_rate


def test_resampling_rejects_rates_that_are_not_positive_integers():
    for rates in [(0, 16000), (44100.5, 16000), (16000, -8000)]:
        with pytest.raises(ValueError, match="positive integers"):
            audio.Resampler(*rates)


def test_write_then_read_round_trips_int16_exactly(tmp_path):
    ints = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    audio.write_wav(tmp_path / "a.wav", ints)
    back = audio.float_to_int16(audio.read_wav(tmp_path / "a.wav"))
    np.testing.assert_array_equal(back, ints)
    rate, data = scipy.io.wavfile.read(tmp_path / "a.wav")
    assert rate == 16000 and data.dtype == np.int16
    assert not list(tmp_path.glob("*.tmp*"))


def test_fit_clip_pads_at_the_end_and_keeps_the_start():
    short = np.ones(10000, np.float32)
    fitted = audio.fit_clip(short)
    assert fitted.shape == (16000,) and fitted[:10000].all() and not fitted[10000:].any()
    long = np.arange(20000, dtype=np.float32)
    np.testing.assert_array_equal(audio.fit_clip(long), long[:16000])


BAD_FILES = {
    "empty file": b"",
    "not a WAV file": b"ID3\x03\x00 this is an mp3 really" * 4,
    "compressed": make_wav(b"\x00" * 100, tag=2, bits=4),
    "truncated": make_wav(b"\x00" * 100, declared=32000),
    "no samples": make_wav(b""),
    "no 'data' chunk": make_wav(b"\x00" * 100)[:36],
    "truncated 'fmt '": b"RIFF\x10\x00\x00\x00WAVEfmt \x04\x00\x00\x00\x01\x00",
    "unsupported sample size": make_wav(b"\x00" * 12, bits=12),
}


@pytest.mark.parametrize("problem", sorted(BAD_FILES))
def test_bad_files_raise_one_error_type_naming_file_and_problem(tmp_path, problem):
    path = tmp_path / "bad_clip.wav"
    path.write_bytes(BAD_FILES[problem])
    with pytest.raises(audio.WavError) as error:
        audio.read_wav(path)
    assert str(path) in str(error.value)
    assert problem in str(error.value)


def test_missing_file_is_a_wav_error(tmp_path):
    with pytest.raises(audio.WavError, match="missing.wav: cannot open"):
        audio.read_wav(tmp_path / "missing.wav")
