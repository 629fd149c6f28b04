"""make_submission_on_rpi.py: same CSV as make_submission.py, unreadable clips, resuming, few imports, bad input."""

import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.signal import resample_poly

from kws.data import audio
from kws import cli
from kws.data import labels
from kws.submit import make_submission
from kws.export import make_submission_on_rpi as rpi
from kws.export import runtime
from test_freeze_graph import TONE_HZ, WORDS, frozen_tiny_model, tone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "make_submission_on_rpi.py")


def wav_file_bytes(frames, rate=16000, bits=16, tag=1, extra_chunk=b""):
    """A WAV file of float frames [n, channels] as 16-bit PCM (tag 1) or 32-bit float (tag 3)."""
    frames = np.asarray(frames, np.float32).reshape(len(frames), -1)
    payload = frames.astype("<f4").tobytes() if tag == 3 else audio.float_to_int16(frames).astype("<i2").tobytes()
    channels = frames.shape[1]
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + extra_chunk + b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _write(path, content):
    with open(path, "wb") as f:
        f.write(content)


OTHER_RATES = (8000, 44100, 48000)  # a telephone clip and a Pi's USB microphone


def tone_at(rate, freq_hz, seconds=1.0, seed=0):
    """`tone` recorded at another sample rate."""
    return audio.resample(tone(freq_hz, seconds, seed), audio.SAMPLE_RATE, rate)


def make_test_folder(folder, with_other_rates=False):
    """Kaggle-like test clips: words, short and long clips, other formats, silence, unreadable files
    (and, with `with_other_rates`, word clips recorded at 8, 44.1 and 48 kHz)."""
    os.makedirs(folder)
    for i, word in enumerate(WORDS):
        for j, seconds in enumerate((1.0, 0.55, 1.25)):
            audio.write_wav(os.path.join(folder, f"clip_{word}{j}.wav"),
                            tone(TONE_HZ[word] * (1 + 0.03 * j), seconds, i))
    stereo = np.stack([tone(300.0, seed=1), tone(3000.0, seed=2)], axis=1)
    _write(os.path.join(folder, "clip_stereo.wav"), wav_file_bytes(stereo))
    _write(os.path.join(folder, "clip_float.wav"), wav_file_bytes(tone(1500.0, seed=3), bits=32, tag=3))
    _write(os.path.join(folder, "clip_list_chunk.wav"),
           wav_file_bytes(tone(700.0, seed=4), extra_chunk=b"LIST" + struct.pack("<I", 4) + b"INFO"))
    audio.write_wav(os.path.join(folder, "clip_zeros.wav"), np.zeros(16000, np.float32))
    _write(os.path.join(folder, "clip_garbage.wav"), b"this is not a wav file at all")
    _write(os.path.join(folder, "clip_empty.wav"), b"")
    _write(os.path.join(folder, "clip_truncated.wav"), wav_file_bytes(tone(700.0))[:5000])
    _write(os.path.join(folder, "notes.txt"), b"not a clip")
    if with_other_rates:
        for rate, word in zip(OTHER_RATES, WORDS):
            _write(os.path.join(folder, f"clip_{rate}hz.wav"), wav_file_bytes(tone_at(rate, TONE_HZ[word]), rate=rate))
    return str(folder)


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return frozen_tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory):
    return make_test_folder(os.path.join(tmp_path_factory.mktemp("rpi"), "test"))


@pytest.fixture(scope="module")
def reference_csv(frozen, test_dir, tmp_path_factory):
    """make_submission.py's submission for the same run and test folder."""
    out = os.path.join(tmp_path_factory.mktemp("reference"), "keras.csv")
    make_submission.main(["--run_dir", frozen[0], "--test_dir", test_dir, "--out", out, "--no_progress"])
    return out


def run_rpi(model_path, test_dir, out, *extra):
    return rpi.main(["--model", model_path, "--test_data", test_dir, "--submission_fn", str(out),
                     "--num_threads", "1", *extra])


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("kind", ["tflite", "pb"])
def test_float_export_gives_the_same_csv_as_make_submission(kind, frozen, test_dir, reference_csv, tmp_path, capsys):
    out = run_rpi(frozen[1][kind], test_dir, tmp_path / "rpi.csv")
    assert _bytes(out) == _bytes(reference_csv)
    rows = _bytes(out).decode().splitlines()
    wavs = sorted(n for n in os.listdir(test_dir) if n.endswith(".wav"))
    assert rows[0] == "fname,label" and [r.split(",")[0] for r in rows[1:]] == wavs
    report = capsys.readouterr().out
    assert "3 unreadable" in report and "inside the interpreter" in report and "outside the interpreter" in report
    assert not os.path.exists(str(out) + rpi.JOURNAL_SUFFIX)


def test_int8_export_writes_one_kaggle_label_per_clip(frozen, test_dir, tmp_path):
    out = run_rpi(frozen[1]["int8"], test_dir, tmp_path / "int8.csv")  # labels found by stripping _int8
    rows = [r.split(",") for r in _bytes(out).decode().splitlines()[1:]]
    assert len(rows) == len([n for n in os.listdir(test_dir) if n.endswith(".wav")])
    assert {label for _, label in rows} <= set(labels.KAGGLE_LABELS)


def test_model_labels_give_make_submissions_own_label_csv(frozen, test_dir, reference_csv, tmp_path):
    out = run_rpi(frozen[1]["tflite"], test_dir, tmp_path / "own.csv", "--model_labels")
    assert _bytes(out) == _bytes(reference_csv.replace(".csv", "_all_labels.csv"))
    assert not rpi.writes_own_labels(["_silence_", "_unknown_", "yes", "marvin"], asked=False)
    assert rpi.writes_own_labels(["_silence_", "_unknown_", "lights_on"], asked=False)  # Kaggle would say unknown


def test_unreadable_clips_are_predicted_as_all_zero_clips(frozen, tmp_path, capsys):
    folder = make_test_folder(tmp_path / "test")
    rows = dict(r.split(",") for r in _bytes(run_rpi(frozen[1]["tflite"], folder, tmp_path / "s.csv"))
                .decode().splitlines()[1:])
    for name in ("clip_garbage.wav", "clip_empty.wav", "clip_truncated.wav"):
        assert rows[name] == rows["clip_zeros.wav"]
    assert "3 unreadable" in capsys.readouterr().out


def test_clips_at_8_44_and_48_khz_give_the_same_csv_as_make_submission(frozen, tmp_path, capsys):
    folder = make_test_folder(tmp_path / "test", with_other_rates=True)
    reference = str(tmp_path / "keras.csv")
    make_submission.main(["--run_dir", frozen[0], "--test_dir", folder, "--out", reference, "--no_progress"])
    out = run_rpi(frozen[1]["tflite"], folder, tmp_path / "rpi.csv")
    assert _bytes(out) == _bytes(reference)
    assert "3 unreadable" in capsys.readouterr().out  # the other rates are read, not predicted as silence


def test_fast_wav_reading_equals_audio_py(tmp_path):
    clips = {"plain": audio.wav_bytes(tone(700.0)), "short": audio.wav_bytes(tone(700.0, seconds=0.3)),
             "long": audio.wav_bytes(tone(700.0, seconds=1.7)),
             "list": wav_file_bytes(tone(700.0), extra_chunk=b"LIST" + struct.pack("<I", 4) + b"INFO"),
             "stereo": wav_file_bytes(np.stack([tone(300.0), tone(900.0)], axis=1)),
             "float": wav_file_bytes(tone(300.0), bits=32, tag=3)}
    for name, content in clips.items():
        samples, plain = runtime.read_clip(content, name)
        np.testing.assert_array_equal(samples, audio.fit_clip(audio.decode_wav(content)))
        assert plain == (name in ("plain", "short", "long", "list"))
    for rate in OTHER_RATES:  # resampled with numpy: within float rounding of scipy's resample_poly
        content = wav_file_bytes(tone_at(rate, 700.0), rate=rate)
        samples, plain = runtime.read_clip(content, f"{rate}.wav")
        assert not plain and samples.shape == (audio.CLIP_SAMPLES,)
        pcm = np.frombuffer(content[44:], "<i2").astype(np.float32) / 32768.0
        expected = audio.fit_clip(resample_poly(pcm, audio.SAMPLE_RATE, rate))
        np.testing.assert_allclose(samples, expected, atol=1e-5)
        assert np.corrcoef(samples[1000:-1000], tone(700.0)[1000:-1000])[0, 1] > 0.99  # the tone came back


def _journal_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_killed_run_resumes_to_a_byte_identical_csv(frozen, test_dir, tmp_path):
    reference = run_rpi(frozen[1]["tflite"], test_dir, tmp_path / "uninterrupted.csv")
    out = str(tmp_path / "killed.csv")
    env = dict(os.environ, **{rpi.CLIP_DELAY_ENV: "0.2", "TF_CPP_MIN_LOG_LEVEL": "2"})
    proc = subprocess.Popen([sys.executable, SCRIPT, "--model", frozen[1]["tflite"], "--test_data", test_dir,
                             "--submission_fn", out, "--num_threads", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _journal_lines(out + rpi.JOURNAL_SUFFIX) < 4:  # the header and three clips
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(out), "a CSV exists although the run was killed mid-way"
    assert 4 <= _journal_lines(out + rpi.JOURNAL_SUFFIX) < 1 + len(os.listdir(test_dir))
    run_rpi(frozen[1]["tflite"], test_dir, out)
    assert _bytes(out) == _bytes(reference)
    assert not os.path.exists(out + rpi.JOURNAL_SUFFIX)


def test_torn_or_corrupt_journal_tail_is_recomputed(frozen, test_dir, tmp_path, capsys):
    reference = run_rpi(frozen[1]["tflite"], test_dir, tmp_path / "uninterrupted.csv")
    out = str(tmp_path / "limited.csv")
    _write(out, b"fname,label\nan old CSV of another run\n")
    with pytest.raises(cli.UserError, match="already exists; pass --overwrite"):
        run_rpi(frozen[1]["tflite"], test_dir, out, "--limit", "3")
    assert _bytes(out) == b"fname,label\nan old CSV of another run\n" and not os.path.exists(out + rpi.JOURNAL_SUFFIX)
    assert run_rpi(frozen[1]["tflite"], test_dir, out, "--limit", "3", "--overwrite") is None
    assert not os.path.exists(out), "the old CSV must not pass for this run's result"
    assert "stopped after --limit 3" in capsys.readouterr().out
    with open(out + rpi.JOURNAL_SUFFIX, "ab") as f:
        f.write(b"clip_nonexistent.wav,yes\nclip_up1.wav,le")  # garbage line, then a torn one
    run_rpi(frozen[1]["tflite"], test_dir, out)
    assert _bytes(out) == _bytes(reference)
    assert "3 from the journal" in capsys.readouterr().out


def test_a_journal_of_another_model_or_test_set_is_refused(frozen, test_dir, tmp_path):
    folder = str(tmp_path / "test")
    shutil.copytree(test_dir, folder)
    out = str(tmp_path / "s.csv")
    run_rpi(frozen[1]["tflite"], folder, out, "--limit", "2")
    with pytest.raises(runtime.InputError, match="another model"):
        run_rpi(frozen[1]["int8"], folder, out)
    audio.write_wav(os.path.join(folder, "clip_new.wav"), tone(440.0))
    with pytest.raises(runtime.InputError, match="another test_set"):
        run_rpi(frozen[1]["tflite"], folder, out)
    run_rpi(frozen[1]["tflite"], folder, out, "--restart")
    assert len(_bytes(out).decode().splitlines()) == 1 + len([n for n in os.listdir(folder) if n.endswith(".wav")])


HEAVY_MODULES = {"tensorflow", "scipy", "pandas", "keras", "tf_keras", "jax", "torch", "matplotlib"}


def heavy_modules_after(script, argv):
    """The HEAVY_MODULES a fresh interpreter has imported after the top-level `script`.py's main(argv),
    the script's own imports included (the Pi has none)."""
    code = (f"import sys, importlib.util as u; spec = u.spec_from_file_location('s', '{script}.py'); "
            f"m = u.module_from_spec(spec); spec.loader.exec_module(m); m.main({argv!r}); "
            f"print('IMPORTED', sorted({{k.split('.')[0] for k in sys.modules}} & {HEAVY_MODULES!r}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.rsplit("IMPORTED", 1)[1].strip()


def test_the_tflite_path_imports_neither_tensorflow_nor_scipy_nor_pandas(frozen, tmp_path):
    folder = make_test_folder(tmp_path / "test", with_other_rates=True)  # resampling included
    assert heavy_modules_after("make_submission_on_rpi", ["--model", frozen[1]["int8"], "--test_data", folder,
                                                          "--submission_fn", str(tmp_path / "s.csv"),
                                                          "--num_threads", "1"]) == "[]"
    assert os.path.exists(tmp_path / "s.csv")


def _converted_tflite(path, input_shape, num_classes):
    """A TFLite file that is not of freeze_graph.py's shape (for the bad-input checks)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32)])
    def other(x):
        return tf.nn.softmax(x[:, :num_classes])

    _write(path, tf.lite.TFLiteConverter.from_concrete_functions([other.get_concrete_function()]).convert())
    return str(path)


def test_bad_input_gives_clear_errors(frozen, test_dir, tmp_path):
    tflite = frozen[1]["tflite"]
    _write(tmp_path / "model.onnx", b"onnx")
    _write(tmp_path / "fake.tflite", b"not a flatbuffer" * 10)
    _write(tmp_path / "fake.pb", b"\xff\xff not a graph")
    _write(tmp_path / "three_labels.txt", b"_silence_\n_unknown_\nyes\n")
    shutil.copy(tflite, tmp_path / "alone.tflite")
    os.makedirs(tmp_path / "no_wavs")
    _write(tmp_path / "no_wavs" / "readme.txt", b"x")
    wrong_shape = _converted_tflite(tmp_path / "wrong.tflite", [2, 16000], 12)  # a batch of 2: any clip length is fine
    cases = [
        ([str(tmp_path / "missing.tflite"), test_dir], "no such model file"),
        ([str(tmp_path / "model.onnx"), test_dir], "unknown kind of model file"),
        ([str(tmp_path / "fake.tflite"), test_dir], "not a TFLite flatbuffer"),
        ([str(tmp_path / "fake.pb"), test_dir], "fake.pb"),
        ([wrong_shape, test_dir, "--labels", frozen[1]["labels"]], r"expected one float32 input \[1, S\]"),
        ([str(tmp_path / "alone.tflite"), test_dir], "labels file not found"),
        ([tflite, test_dir, "--labels", str(tmp_path / "three_labels.txt")], "3 labels, but the model has 12"),
        ([tflite, str(tmp_path / "no_wavs")], "no .wav files"),
        ([tflite, str(tmp_path / "nowhere")], "no such test folder"),
    ]
    for (model_path, folder, *extra), message in cases:
        with pytest.raises(runtime.InputError, match=message):
            run_rpi(model_path, folder, tmp_path / "out.csv", *extra)
    assert not os.path.exists(tmp_path / "out.csv")
