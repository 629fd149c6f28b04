"""generate_noise.py: spectral slopes of the colours, levels, every everyday kind, the script's files."""

import os

import numpy as np
import pytest
from scipy import signal

from kws.data import audio
from kws.data import generate_noise


def psd_slope(samples, sample_rate=audio.SAMPLE_RATE):
    """Slope of log10 power against log10 frequency, fitted between 50 Hz and 7 kHz."""
    freqs, power = signal.welch(samples, fs=sample_rate, nperseg=4096)
    band = (freqs >= 50) & (freqs <= 7000)
    return np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0]


@pytest.mark.parametrize("color, slope", sorted(generate_noise.COLOR_SLOPES.items()))
def test_colour_has_its_spectral_slope(color, slope):
    noise = generate_noise.make_noise(color, 8 * audio.SAMPLE_RATE, np.random.default_rng(0))
    assert abs(psd_slope(noise) - slope) <= 0.15
    assert np.sqrt(np.mean(noise.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("kind", generate_noise.NOISE_KINDS)
def test_every_kind_is_unit_rms_finite_and_seeded(kind):
    first = generate_noise.make_noise(kind, 16000, np.random.default_rng(1))
    again = generate_noise.make_noise(kind, 16000, np.random.default_rng(1))
    other = generate_noise.make_noise(kind, 16000, np.random.default_rng(2))
    assert first.dtype == np.float32 and first.shape == (16000,)
    assert np.all(np.isfinite(first))
    assert np.sqrt(np.mean(first.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)
    assert np.max(np.abs(first)) < 9.0  # crest factor bounded: a level of -20 dBFS never clips
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_hum_is_tonal_at_mains_frequency():
    hum = generate_noise.make_noise("hum", 4 * audio.SAMPLE_RATE, np.random.default_rng(3))
    freqs, power = signal.welch(hum, fs=audio.SAMPLE_RATE, nperseg=8192)
    peak_hz = freqs[np.argmax(power)]
    assert min(abs(peak_hz - k * mains) for mains in (50, 60) for k in (1, 2, 3)) < 3


def test_unknown_kind_and_empty_length_are_refused():
    with pytest.raises(ValueError, match="unknown noise kind 'purple'"):
        generate_noise.make_noise("purple", 100, np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive"):
        generate_noise.make_noise("white", 0, np.random.default_rng(0))


def test_main_writes_the_five_colours_at_the_requested_level(tmp_path):
    out = tmp_path / "_background_noise_"
    written = generate_noise.main(["--out", str(out), "--duration_s", "2", "--dbfs", "-26", "--seed", "3"])
    assert sorted(os.path.basename(p) for p in written) == sorted(
        f"synthetic_{c}_noise.wav" for c in ("white", "pink", "brown", "blue", "violet"))
    for path in written:
        samples = audio.read_wav(path)
        assert len(samples) == 2 * audio.SAMPLE_RATE
        assert 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) == pytest.approx(-26, abs=0.05)
    pink = audio.read_wav(out / "synthetic_pink_noise.wav")
    assert abs(psd_slope(pink) + 1.0) <= 0.15


def test_main_everyday_kinds_rms_flag_keeps_existing_files_and_is_deterministic(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    args = ["--colors", "all", "--duration_s", "1", "--rms", "0.05", "--seed", "7"]
    assert len(generate_noise.main(["--out", str(first), *args])) == len(generate_noise.NOISE_KINDS)
    generate_noise.main(["--out", str(second), *args])
    for name in os.listdir(first):
        assert (first / name).read_bytes() == (second / name).read_bytes()
        samples = audio.read_wav(first / name)
        assert len(samples) == audio.SAMPLE_RATE
        assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) == pytest.approx(0.05, rel=0.01)
    assert generate_noise.main(["--out", str(first), *args]) == []  # kept without --overwrite
    assert len(generate_noise.main(["--out", str(first), *args, "--overwrite"])) == len(generate_noise.NOISE_KINDS)


def test_default_duration_is_a_minute():
    assert generate_noise.build_parser().parse_args(["--out", "x"]).duration_s >= 60


def test_bad_flags_and_clipping_levels_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        generate_noise.main(["--out", str(tmp_path), "--colors", "white,purple"])
    assert "purple" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        generate_noise.main(["--out", str(tmp_path), "--dbfs", "3"])
    with pytest.raises(ValueError, match="synthetic_white_noise.wav: RMS 0.9 is too loud"):
        generate_noise.main(["--out", str(tmp_path), "--colors", "white", "--rms", "0.9", "--duration_s", "1"])
