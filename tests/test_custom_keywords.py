"""custom_keywords.py: keywords from text, the user's recordings, settings, and one resumed run end to end."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import audio
import cli
import custom_keywords

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_keywords_are_phrases_with_labels():
    assert custom_keywords.parse_keywords("Lights  On, hey pi") == {"lights_on": "lights on", "hey_pi": "hey pi"}
    for bad in ("a,,b", "go,Go", "_unknown_"):
        with pytest.raises(cli.UserError):
            custom_keywords.parse_keywords(bad)


def test_a_long_recording_keeps_the_second_around_its_word():
    samples = np.zeros(3 * audio.CLIP_SAMPLES, np.float32)
    samples[32000:36000] = 0.5 * np.sin(np.arange(1, 4001) / 3.0)  # on 10 ms frame boundaries
    clip = custom_keywords.clip_around_speech(samples)
    assert len(clip) == audio.CLIP_SAMPLES
    start = 34000 - audio.CLIP_SAMPLES // 2  # the word's centre at the clip's centre
    np.testing.assert_array_equal(clip, samples[start:start + audio.CLIP_SAMPLES])
    short = custom_keywords.clip_around_speech(samples[32000:36000])
    assert len(short) == audio.CLIP_SAMPLES and np.all(short[4000:] == 0)


def test_held_back_clips_are_one_in_five_and_at_least_one():
    assert [len(custom_keywords.held_back_indexes(n, 0, "go")) for n in (1, 2, 5, 10, 12)] == [0, 1, 1, 2, 2]
    assert custom_keywords.held_back_indexes(10, 0, "go") == custom_keywords.held_back_indexes(10, 0, "go")
    assert not custom_keywords.held_back_indexes(10, 0, "go", every=0)


def _recordings(folder, per_word=5):
    rng = np.random.default_rng(0)
    for word in ("lights on", "hey_pi"):
        os.makedirs(folder / word)
        for n in range(per_word):
            audio.write_wav(str(folder / word / f"take{n}.wav"), 0.1 * rng.standard_normal(20000).astype(np.float32))
    (folder / "hey_pi" / "broken.wav").write_bytes(b"RIFF not really")
    return folder


def test_recordings_are_cut_split_and_an_unreadable_file_is_named_and_skipped(tmp_path, caplog):
    recordings = _recordings(tmp_path / "mine")
    summary = custom_keywords.prepare_recordings(str(recordings), {"lights_on": "", "hey_pi": ""}, str(tmp_path / "R"), 0)
    assert summary["training_clips"] == 8 and summary["held_back_clips"] == 2
    assert summary["skipped_files"] == [str(recordings / "hey_pi" / "broken.wav")]
    assert "broken.wav" in caplog.text
    with open(tmp_path / "R" / "recordings" / "heldback.csv") as f:
        held = [line.strip().split(",") for line in f][1:]
    assert sorted(label for _, label in held) == ["hey_pi", "lights_on"]
    for name, _ in held:
        assert len(audio.read_wav(str(tmp_path / "R" / "recordings" / "heldback" / name))) == audio.CLIP_SAMPLES
    with pytest.raises(cli.UserError, match="no folder for"):
        custom_keywords.prepare_recordings(str(recordings), {"lights_on": "", "hey_pi": "", "other": ""},
                                           str(tmp_path / "S"), 0)
    os.makedirs(recordings / "stranger")
    with pytest.raises(cli.UserError, match="stranger"):
        custom_keywords.prepare_recordings(str(recordings), {"lights_on": "", "hey_pi": ""}, str(tmp_path / "T"), 0)


def test_a_folder_made_with_other_words_is_refused(tmp_path):
    custom_keywords.check_settings(str(tmp_path), {"words": "go", "seed": 0})
    custom_keywords.check_settings(str(tmp_path), {"words": "go", "seed": 0})  # the same command continues
    with pytest.raises(cli.UserError, match="other settings"):
        custom_keywords.check_settings(str(tmp_path), {"words": "stop", "seed": 0})


def test_held_back_accuracy_counts_the_right_labels(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("fname,label\na.wav,go\nb.wav,_unknown_\nc.wav,stop\n")
    result = custom_keywords.held_back_accuracy(str(csv_path), {"a.wav": "go", "b.wav": "stop", "c.wav": "stop"})
    assert result["accuracy"] == pytest.approx(2 / 3) and result["wrong"] == {"b.wav": "_unknown_"}


TINY = ["--speakers", "20", "--near_misses", "2", "--other_words", "4", "--epochs", "1", "--stream_minutes", "0.3",
        "--check_clips", "10", "--workers", "2"]


def _command(out, *extra):
    return [sys.executable, os.path.join(ROOT, "custom_keywords.py"), "--words", "licht an,hallo", "--language", "de",
            "--out", str(out), *TINY, *extra]


def test_a_german_spotter_with_recordings_killed_and_resumed(tmp_path):
    """The whole path on tiny settings: killed once the corpus is written, then run again to the end."""
    recordings = tmp_path / "mine"
    _recordings_de(recordings)
    out = tmp_path / "R"
    child = subprocess.Popen(_command(out, "--recordings", str(recordings)), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    corpus_json = out / "corpus" / "corpus.json"
    deadline = time.monotonic() + 300
    while not corpus_json.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert corpus_json.exists(), "the corpus stage did not finish"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert not (out / "custom_keywords.json").exists()
    corpus_written = corpus_json.stat().st_mtime_ns
    done = subprocess.run(_command(out, "--recordings", str(recordings)), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert corpus_json.stat().st_mtime_ns == corpus_written  # the finished stage was not redone
    report = json.loads((out / "custom_keywords.json").read_text())
    assert report["keywords"] == {"licht_an": "licht an", "hallo": "hallo"}
    assert report["recordings"]["skipped_files"] == [str(recordings / "hallo" / "broken.wav")]
    assert "broken.wav" in done.stderr
    assert set(report["held_back"]) == {"int8_spotter", "synthetic_only"}
    assert report["held_back"]["int8_spotter"]["clips"] == 2
    assert (out / "spotter" / "spotter_labels.txt").read_text().split() == ["_silence_", "_unknown_", "licht_an", "hallo"]
    assert (out / "run" / "metrics.json").exists() and (out / "pretrain" / "metrics.json").exists()
    again = subprocess.run(_command(out, "--recordings", str(recordings)), capture_output=True, text=True)
    assert again.returncode == 0 and "training (" not in again.stderr  # everything done: nothing retrained
    seconds = json.loads((out / "custom_keywords.json").read_text())["seconds"]
    assert seconds["training"] >= report["seconds"]["training"] > 1  # a rerun keeps the time the work took
    other = subprocess.run(_command(out).__add__(["--seed", "3"]), capture_output=True, text=True)
    assert other.returncode == 2 and "other settings" in other.stderr


def _recordings_de(folder):
    rng = np.random.default_rng(1)
    for word in ("licht an", "hallo"):
        os.makedirs(folder / word)
        for n in range(3):
            audio.write_wav(str(folder / word / f"take{n}.wav"), 0.1 * rng.standard_normal(16000).astype(np.float32))
    (folder / "hallo" / "broken.wav").write_bytes(b"")


def _benchmark():
    """benchmarks/custom_keywords.py (it shares its module name with the script)."""
    spec = importlib.util.spec_from_file_location("custom_keywords_benchmark",
                                                  os.path.join(ROOT, "benchmarks", "custom_keywords.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_scores_keywords_others_and_silence_apart():
    truth = {"a": "go", "b": "go", "c": "_unknown_", "d": "_unknown_", "e": "_silence_", "f": "stop"}
    predicted = {"a": "go", "b": "stop", "c": "_unknown_", "d": "go", "e": "_silence_", "f": "stop"}
    result = _benchmark().score_clips(predicted, truth, ["go", "stop"])
    assert [result[g]["hits"] for g in ("keywords", "other_words", "silence", "overall")] == [2, 1, 1, 4]
    assert [result[g]["total"] for g in ("keywords", "other_words", "silence")] == [3, 2, 1]
    assert result["by_word"]["go"]["rate"] == 0.5 and result["by_word"]["stop"]["rate"] == 1.0
    low, high = result["keywords"]["interval"]
    assert 0 < low < 2 / 3 < high < 1


def test_benchmark_shots_are_nested_training_clips(tmp_path):
    clips = {"training": [("go", f"/x/go/{n}.wav") for n in range(12)] + [("stop", f"/x/stop/{n}.wav") for n in range(12)]}
    folders = _benchmark().make_shots(str(tmp_path), clips, ["go", "stop"], [5, 10], seed=0)
    five, ten = (set(os.listdir(os.path.join(folders[k], "go"))) for k in (5, 10))
    assert len(five) == 5 and len(ten) == 10 and five < ten
    with pytest.raises(cli.UserError, match="fewer than 25"):
        _benchmark().make_shots(str(tmp_path / "b"), clips, ["go"], [25], seed=0)
