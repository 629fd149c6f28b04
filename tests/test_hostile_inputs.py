"""Hostile input: crafted WAVs and CSVs, bad settings, files in the way, interruptions (issue 12).

Every outcome is a clip, a named and counted unreadable file, or `error: ...` with exit status 2;
no script replaces a file it did not write unless told to with --overwrite, and none writes over
its own inputs.
"""

import struct

import numpy as np
import pytest

import audio
import make_submission_on_rpi as rpi

RNG_SEED = 12


def wav(payload, tag=1, channels=1, rate=16000, bits=16, extensible=False):
    """WAV bytes with any format header (extensible: WAVE_FORMAT_EXTENSIBLE with `tag` as sub-format)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + bytes(14)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def real_files():
    """A 16-bit mono clip (the Pi reader's fast path) and a float stereo extensible one (audio.py's)."""
    rng = np.random.default_rng(RNG_SEED)
    pcm = audio.wav_bytes(rng.uniform(-0.5, 0.5, 800).astype(np.float32))
    stereo = wav(rng.uniform(-0.5, 0.5, (400, 2)).astype("<f4").tobytes(), tag=3, channels=2, bits=32,
                 extensible=True)
    return {"pcm16": pcm, "float_stereo": stereo}


def outcome(reader, data):
    """"clip" or "unreadable: <problem>"; anything else (a crash) propagates to the test."""
    try:
        samples = reader(data)
    except audio.WavError as e:
        assert e.name == "t.wav" and e.problem, "an unreadable file must be named, with its problem"
        return "unreadable"
    assert samples.dtype == np.float32 and np.isfinite(samples).all() and np.abs(samples).max() <= 1.0
    return "clip"


READERS = {"audio.py": lambda data: audio.decode_wav(data, "t.wav"),
           "Pi reader": lambda data: rpi.read_clip(data, "t.wav")[0]}


@pytest.mark.parametrize("reader", READERS)
def test_every_truncation_of_a_real_file_is_a_clip_or_a_named_unreadable_file(reader):
    for kind, content in real_files().items():
        outcomes = [outcome(READERS[reader], content[:length]) for length in range(len(content) + 1)]
        assert outcomes[-1] == "clip"
        assert outcomes[:44] == ["unreadable"] * 44, kind  # nothing of a clip without a whole header


@pytest.mark.parametrize("reader", READERS)
def test_random_bytes_and_mutated_headers_are_clips_or_named_unreadable_files(reader):
    rng = np.random.default_rng(RNG_SEED)
    originals = list(real_files().values())
    for case in range(3000):
        if case % 3 == 0:
            data = rng.integers(0, 256, rng.integers(0, 120), dtype=np.uint8).tobytes()
        else:  # a real file with a few header bytes changed (rates, sizes, tags, channels)
            data = bytearray(originals[case % 2])
            for position in rng.integers(0, 64, rng.integers(1, 5)):
                data[position] = rng.integers(0, 256)
            data = bytes(data)
        outcome(READERS[reader], data)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("bits", [32, 64])
def test_a_float_wav_with_nan_or_inf_is_unreadable_not_silence_or_full_scale(value, bits):
    samples = np.full(1600, 0.1)
    samples[100] = value
    data = wav(samples.astype(f"<f{bits // 8}").tobytes(), tag=3, bits=bits)
    for reader in READERS.values():
        with pytest.raises(audio.WavError, match="t.wav: 1 of 1600 float samples are NaN or infinite"):
            reader(data)
    all_nan = wav(np.full(1600, np.nan, "<f4").tobytes(), tag=3, bits=32)
    with pytest.raises(audio.WavError, match="1600 of 1600"):
        audio.decode_wav(all_nan, "t.wav")


@pytest.mark.parametrize("rate", [0, 1, 999, 384001, 0xFFFFFFFF])
def test_an_impossible_sample_rate_is_unreadable(rate):
    data = wav(np.zeros(1600, "<i2").tobytes(), rate=rate)
    with pytest.raises(audio.WavError, match=f"t.wav: invalid header \\(1 channels, {rate} Hz"):
        audio.decode_wav(data, "t.wav")  # resampling from 1 Hz or 4 GHz would need gigabytes
    assert outcome(READERS["Pi reader"], data) == "unreadable"
