"""spot_keywords.py end to end: a tiny model trained on tone words (conftest's tone_run) finds the words
of a generated stream in every model format, from a file and from standard input, survives Ctrl-C,
and runs its .tflite path with numpy and the TFLite runtime alone."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from kws.data import audio
from kws import cli
from kws.data import corpus as layout  # "corpus" names the test corpus here
from kws.export import freeze_graph
from kws.stream import mine_negatives
from kws.stream import score_streaming
from kws.stream import spot_keywords
from test_freeze_graph import frozen_tiny_model
from test_make_streaming_test import make_stream
from test_rpi import heavy_modules_after

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "spot_keywords.py")


@pytest.fixture(scope="module")
def setup(tone_corpus, tone_run, tmp_path_factory):
    """(run folder, {kind: path} of the frozen files with the streaming export, stream folder): conftest's
    tiny MFCC model of the tone words, trained for streams too."""
    root = tmp_path_factory.mktemp("spot")
    run_dir, metrics = tone_run("mfcc")
    assert metrics["best_val_accuracy"] > 0.85
    frozen = freeze_graph.main(["--run_dir", run_dir, "--out", str(root / "tf" / "tiny"), "--streaming",
                                "--check_clips", "60"])
    stream = root / "stream"
    make_stream(tone_corpus[1], tone_corpus[2], stream, 0, 2.0, "--snr_db", "25", "35")
    return run_dir, frozen, str(stream)


def spot(model, stream, out, *extra):
    return spot_keywords.main(["--model", model, "--input", os.path.join(stream, "stream.wav"), "--out", str(out),
                               *extra])


def scores(stream, detections_path):
    words = score_streaming.read_labels(os.path.join(stream, "labels.csv"))
    return score_streaming.summarise(words, score_streaming.read_detections(str(detections_path)), 1.0, 120.0)


def test_the_streaming_export_is_written_and_checked(setup):
    _, frozen, _ = setup
    assert {"features", "classifier", "classifier_int8", "streaming"} <= set(frozen)
    with open(frozen["streaming"]) as f:
        spec = json.load(f)
    shape = (spec["frame_length_samples"], spec["frame_step_samples"], spec["frames"], spec["bins"])
    assert shape == (640, 320, 49, 10)
    with open(frozen["report"]) as f:
        report = json.load(f)["exports"]
    assert report["classifier"]["agreement"] == 1.0 and report["classifier_int8"]["agreement"] >= 0.97


FORMATS = {"run folder": lambda run, frozen: run, ".keras": lambda run, frozen: os.path.join(run, "best.keras"),
           ".pb": lambda run, frozen: frozen["pb"], "float .tflite": lambda run, frozen: frozen["tflite"],
           "int8 .tflite": lambda run, frozen: frozen["int8"]}


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_every_model_format_finds_the_words_of_a_stream(kind, setup, tmp_path, capsys):
    run_dir, frozen, stream = setup
    stats = spot(FORMATS[kind](run_dir, frozen), stream, tmp_path / "d.csv")
    result = scores(stream, tmp_path / "d.csv")
    assert result["command_words"] >= 15
    assert result["recall"] >= 0.9 and result["false_alarms"] <= 3, result
    assert stats["audio_s"] == pytest.approx(121.0)  # two minutes and the second of silence after them
    report = capsys.readouterr().err
    assert "real-time factor" in report
    if kind.endswith(".tflite"):  # the split export is found beside the file and used
        assert "on new frames" in report and "Raspberry Pi 3 estimate" in report


def test_split_and_whole_window_give_the_same_scores(setup, tmp_path):
    _, frozen, stream = setup
    spot(frozen["tflite"], stream, tmp_path / "split.csv", "--threshold", "0")
    spot(frozen["tflite"], stream, tmp_path / "whole.csv", "--threshold", "0", "--full_window")
    split = score_streaming.read_detections(str(tmp_path / "split.csv"))
    whole = score_streaming.read_detections(str(tmp_path / "whole.csv"))
    assert len(split) == len(whole) == 1210  # the score trace: every hop
    assert [row[:2] for row in split] == [row[:2] for row in whole]
    np.testing.assert_allclose([row[2] for row in split], [row[2] for row in whole], atol=2e-4)


def run_script(args, stdin_bytes, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, SCRIPT, *args], input=stdin_bytes, cwd=ROOT, env=env,
                          capture_output=True, timeout=timeout)


def test_standard_input_raw_pcm_at_48_khz_and_a_wav_stream_find_the_same_words(setup, tmp_path):
    _, frozen, stream = setup
    spot(frozen["int8"], stream, tmp_path / "file.csv")
    samples = audio.read_wav(os.path.join(stream, "stream.wav"))
    raw_48k = audio.float_to_int16(audio.resample(samples, 16000, 48000)).astype("<i2").tobytes()
    done = run_script(["--model", frozen["int8"], "--input", "-", "--sample_rate", "48000",
                       "--out", str(tmp_path / "raw.csv")], raw_48k)
    assert done.returncode == 0, done.stderr.decode()
    printed = done.stdout.decode()
    with open(tmp_path / "raw.csv") as f:
        assert printed == f.read()  # printed as they happen, the same rows as in the file
    with open(os.path.join(stream, "stream.wav"), "rb") as f:
        done = run_script(["--model", frozen["int8"], "--input", "-", "--out", str(tmp_path / "wav.csv"), "--json"],
                          f.read())
    assert done.returncode == 0, done.stderr.decode()
    # the same samples through a pipe: the same detections; resampled from 48 kHz: about the same
    assert score_streaming.read_detections(str(tmp_path / "wav.csv")) == \
        score_streaming.read_detections(str(tmp_path / "file.csv"))
    from_48k = scores(stream, tmp_path / "raw.csv")
    assert from_48k["recall"] >= 0.9 and from_48k["false_alarms"] <= 3, from_48k


def test_ctrl_c_leaves_every_printed_detection_in_the_output_file(setup, tmp_path):
    _, frozen, stream = setup
    pcm = audio.float_to_int16(audio.read_wav(os.path.join(stream, "stream.wav"))).tobytes()
    out = tmp_path / "live.csv"
    proc = subprocess.Popen([sys.executable, SCRIPT, "--model", frozen["int8"], "--input", "-", "--out", str(out)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))

    def feed():  # ten times real time: a live microphone, only faster
        try:
            for start in range(0, len(pcm), 3200):
                proc.stdin.write(pcm[start:start + 3200])
                proc.stdin.flush()
                time.sleep(0.01)
        except (BrokenPipeError, ValueError):
            pass  # the spotter stopped listening

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    printed = [proc.stdout.readline() for _ in range(4)]  # the header and three detections
    proc.send_signal(signal.SIGINT)
    _, errors = proc.communicate(timeout=60)
    assert proc.returncode == 130, errors.decode()
    with open(out, "rb") as f:
        written = f.read()
    assert written.startswith(b"".join(printed))  # every row printed before the Ctrl-C is in the file ...
    assert written.endswith(b"\n") and all(len(row.split(b",")) == 3 for row in written.splitlines())  # ... whole
    assert b"interrupted" in errors


def test_the_tflite_path_imports_neither_tensorflow_nor_scipy(setup, tmp_path):
    _, frozen, stream = setup
    wav_44k = str(tmp_path / "stream_44k.wav")  # resampling included
    audio.write_wav(wav_44k, audio.resample(audio.read_wav(os.path.join(stream, "stream.wav")), 16000, 44100), 44100)
    assert heavy_modules_after("spot_keywords", ["--model", frozen["int8"], "--input", wav_44k,
                                                 "--out", str(tmp_path / "d.csv")]) == "[]"
    assert scores(stream, tmp_path / "d.csv")["recall"] >= 0.9


def test_a_raw_waveform_model_has_no_split_and_runs_its_whole_window(tmp_path_factory, tmp_path, setup, capsys):
    run_dir, frozen = frozen_tiny_model(tmp_path_factory)  # the untrained tiny `pi` model
    written = freeze_graph.main(["--run_dir", run_dir, "--out", str(tmp_path / "pi"), "--streaming",
                                 "--check_clips", "8", "--skip_int8"])
    assert "features" not in written and not os.path.exists(tmp_path / "pi_streaming.json")
    spot(frozen["int8"], setup[2], tmp_path / "d.csv")
    assert "on the whole window" in capsys.readouterr().err


def test_bad_input_gives_clear_errors(setup, tmp_path):
    run_dir, frozen, stream = setup
    (tmp_path / "noise.wav").write_bytes(b"not a wav at all")
    (tmp_path / "three.txt").write_text("_silence_\n_unknown_\nyes\n")
    wav = os.path.join(stream, "stream.wav")
    cases = [(["--model", str(tmp_path / "none.tflite"), "--input", wav], "no such model file"),
             (["--model", frozen["int8"], "--input", str(tmp_path / "none.wav")], "no such input file"),
             (["--model", frozen["int8"], "--input", str(tmp_path / "noise.wav")], "noise.wav: not a WAV file"),
             (["--model", frozen["int8"], "--input", wav, "--hop_ms", "50"],
              "not a multiple of the model's frame step"),
             (["--model", frozen["tflite"], "--input", wav, "--labels", str(tmp_path / "three.txt")],
              "3 labels, but the model has 6"),
             (["--model", run_dir, "--input", wav, "--labels", str(tmp_path / "three.txt")],
              "the model has 6 outputs but its labels file lists 3")]
    for argv, message in cases:
        with pytest.raises(cli.UserError, match=message):
            spot_keywords.main(argv + ["--out", str(tmp_path / "d.csv")])


def test_negative_windows_are_those_without_a_command_word():
    words = [("_unknown_", 5.0, 5.4), ("yes", 10.0, 10.4), ("_unknown_", 20.0, 20.5)]
    detections = [(5.6, "no", 0.6),    # an other word: its window and the one 0.2 s before are negatives
                  (10.5, "yes", 0.9),  # a command word in the window: kept out
                  (15.0, "up", 0.5),   # only noise in the window: silence
                  (20.9, "go", 0.5), (21.3, "go", 0.5),  # windows overlapping the word are unknown
                  (11.5, "up", 0.5),   # its window is clear of "yes", the one 0.2 s earlier is not
                  (30.1, "no", 0.5)]   # in the padding after the 30 s stream: only the window 0.2 s earlier
    windows = mine_negatives.negative_windows(detections, words, [0.0, 0.2], duration_s=30.0)
    assert windows == [(5.4, "_unknown_"), (5.6, "_unknown_"), (11.5, "_silence_"), (14.8, "_silence_"),
                       (15.0, "_silence_"), (20.7, "_unknown_"), (20.9, "_unknown_"), (21.1, "_unknown_"),
                       (21.3, "_unknown_"), (29.9, "_silence_")]


def test_mined_negatives_are_one_second_clips_listed_for_training(setup, tmp_path_factory, tmp_path):
    _, frozen = frozen_tiny_model(tmp_path_factory)  # untrained: it raises false alarms to mine
    stream = setup[2]
    counts = mine_negatives.main(["--model", frozen["int8"], "--stream", stream, "--out", str(tmp_path / "neg"),
                                  "--threshold", "0.05"])
    rows = layout.read_pseudo_labels(str(tmp_path / "neg" / "pseudo_labels.csv"))
    assert len(rows) == sum(counts.values()) > 0
    words = mine_negatives.read_words(os.path.join(stream, "words.csv"))
    for _, path, label in rows:
        clip = audio.read_wav(path)
        end_s = float(os.path.basename(path)[len("mined_"):-len(".wav")])
        assert len(clip) == audio.CLIP_SAMPLES and label in ("_unknown_", "_silence_")
        heard = mine_negatives.words_in(words, end_s - 1.0, end_s)
        assert all(w[0] == "_unknown_" for w in heard) and (label == "_unknown_") == bool(heard)
