"""custom_keywords.py: keywords from text, the user's recordings, settings, and one resumed run end to end."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from kws.data import audio
from kws import cli
from kws import custom_keywords
from kws.models import oww_embeddings
from conftest import run_script

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


def _negatives(folder):
    """A dataset folder: two other words (one clip of each validation-listed), a keyword's folder, noise."""
    rng = np.random.default_rng(2)
    for word in ("tisch", "stuhl", "hallo", "_background_noise_"):
        os.makedirs(folder / word)
        for n in range(2):
            audio.write_wav(str(folder / word / f"{word}{n}.wav"), 0.1 * rng.standard_normal(16000).astype(np.float32))
    (folder / "validation_list.txt").write_text("stuhl/stuhl1.wav\n")
    return folder


def test_negatives_are_the_training_clips_of_other_words_and_the_noise(tmp_path):
    summary = custom_keywords.prepare_negatives(str(_negatives(tmp_path / "neg")), {"hallo": "hallo"}, str(tmp_path / "R"))
    assert summary["left_out"] == ["hallo"] and summary["clips"] == 3 and summary["noise_files"] == 2
    assert summary["validation_clips"] == 1  # stuhl1: the talk the spotter is calibrated on
    root = tmp_path / "R" / "negatives"
    rows = [line.split(",") for line in (root / "clips.csv").read_text().split()[1:]]
    assert sorted(os.path.basename(path) for path, _ in rows) == ["stuhl0.wav", "tisch0.wav", "tisch1.wav"]
    assert {label for _, label in rows} == {"_unknown_"} and all(os.path.isabs(path) for path, _ in rows)
    assert sorted(os.listdir(root / "audio" / "_background_noise_")) == ["_background_noise_0.wav",
                                                                       "_background_noise_1.wav"]
    flags, data_dirs = custom_keywords.negatives_flags(str(tmp_path / "R"))
    assert flags[:2] == ["--pseudo_labels", str(root / "clips.csv")] and data_dirs == [str(root)]
    with pytest.raises(cli.UserError, match="no training-split clip"):
        custom_keywords.prepare_negatives(str(_negatives(tmp_path / "only")), {w: w for w in ("tisch", "stuhl", "hallo")},
                                          str(tmp_path / "R2"))
    with pytest.raises(cli.UserError, match="no validation-split clip"):  # its one validation clip is a keyword's
        custom_keywords.prepare_negatives(str(_negatives(tmp_path / "val")), {"stuhl": "stuhl"}, str(tmp_path / "R3"))


TINY = ["--speakers", "20", "--near_misses", "2", "--other_words", "4", "--epochs", "1", "--stream_minutes", "0.3",
        "--talk_minutes", "0.4", "--check_clips", "10", "--workers", "2"]


def _command(out, *extra):
    return [sys.executable, os.path.join(ROOT, "custom_keywords.py"), "--words", "licht an,hallo", "--language", "de",
            "--out", str(out), *TINY, *extra]


def _stages_in_process(monkeypatch):
    """custom_keywords.run_stage runs each stage's script as its main() in this process (run_script): the
    stages' own tests cover them as commands, and every fresh Python that imports TensorFlow costs
    seconds. The stage's name is logged as run_stage logs it."""
    def run_stage(name, script, args):
        custom_keywords.log.info("%s: %s in-process", name, script)
        run_script(script, args)
    monkeypatch.setattr(custom_keywords, "run_stage", run_stage)


def test_a_german_spotter_with_recordings_killed_and_resumed(tmp_path, monkeypatch, caplog):
    """The whole path on tiny settings, real negatives too: the command killed once the corpus is
    written, then run again to the end (in this process)."""
    recordings = tmp_path / "mine"
    _recordings_de(recordings)
    mine = ["--recordings", str(recordings), "--negatives", str(_negatives(tmp_path / "neg"))]
    out = tmp_path / "R"
    child = subprocess.Popen(_command(out, *mine), start_new_session=True,
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
    _stages_in_process(monkeypatch)
    custom_keywords.main(_command(out, *mine)[2:])
    assert corpus_json.stat().st_mtime_ns == corpus_written  # the finished stage was not redone
    report = json.loads((out / "custom_keywords.json").read_text())
    assert report["keywords"] == {"licht_an": "licht an", "hallo": "hallo"}
    assert report["recordings"]["skipped_files"] == [str(recordings / "hallo" / "broken.wav")]
    assert "broken.wav" in caplog.text
    assert set(report["held_back"]) == {"spotter", "synthetic_only"}
    assert report["held_back"]["spotter"]["clips"] == 2
    assert report["negatives"]["left_out"] == ["hallo"] and report["negatives"]["clips"] == 3
    pretrain = json.loads((out / "pretrain" / "config.json").read_text())["data"]
    assert pretrain["pseudo_labels"] == [str(out / "negatives" / "clips.csv")] and pretrain["pseudo_ratio"] == 0.2
    assert pretrain["data_dir"][1:] == [str(out / "negatives")]
    assert (out / "spotter" / "spotter_labels.txt").read_text().split() == ["_silence_", "_unknown_", "licht_an", "hallo"]
    assert (out / "run" / "metrics.json").exists() and (out / "pretrain" / "metrics.json").exists()
    # false alarms counted on real talk of the negatives' validation split, not on synthetic talk
    calibration = json.loads((out / "spotter" / "spotter.json").read_text())["calibration"]
    assert calibration["fa_streams"] == [str(out / "streams" / "talk")] and calibration["rule"] == "shares"
    talk = json.loads((out / "streams" / "talk" / "stream.json").read_text())
    assert talk["minutes"] == pytest.approx(0.4) and talk["words_by_source"] == {str(tmp_path / "neg"): talk["words"]}
    spoken = (out / "streams" / "talk" / "words.csv").read_text().split()[1:]
    assert {row.split(",")[4] for row in spoken} == {"stuhl/stuhl1.wav"}  # the validation split's other word alone
    assert not (out / "streams" / "negatives").exists() and not (out / "streams" / "training_talk").exists()
    caplog.clear()
    custom_keywords.main(_command(out, *mine)[2:])
    assert "training (" not in caplog.text  # everything done: nothing retrained
    seconds = json.loads((out / "custom_keywords.json").read_text())["seconds"]
    assert seconds["training"] >= report["seconds"]["training"] > 1  # a rerun keeps the time the work took
    other = subprocess.run(_command(out).__add__(["--seed", "3"]), capture_output=True, text=True)
    assert other.returncode == 2 and "other settings" in other.stderr


def test_an_english_phrase_on_openwakeword_embeddings(tmp_path, monkeypatch):
    """--front_end openwakeword: a head on the embeddings, its spotter run by spot_keywords.py."""
    pytest.importorskip("pyopen_wakeword", reason="pyopen-wakeword is not installed (pip install pyopen-wakeword)")
    recordings = tmp_path / "mine"
    _recordings_de(recordings, words=("lights on", "hey pi"))
    out = tmp_path / "R"
    _stages_in_process(monkeypatch)
    custom_keywords.main(["--words", "lights on,hey pi", "--front_end", "openwakeword", "--recordings", str(recordings),
                          "--negatives", str(_negatives(tmp_path / "neg")), "--out", str(out), *TINY])
    report = json.loads((out / "custom_keywords.json").read_text())
    assert report["model"] == str(out / "head" / "head.tflite") and report["run_dir"] is None
    assert 0 <= report["validation_accuracy"] <= 1 and report["held_back"]["spotter"]["clips"] == 2
    spotter = json.loads((out / "spotter" / "spotter.json").read_text())
    assert spotter["model"] == "spotter.tflite" and spotter["hop_ms"] == 80
    assert (out / "spotter" / "spotter_embeddings.json").exists() and (out / "head_synthetic" / "head.json").exists()
    # the head trained on every second hop's window of the training talk (0.2 min: 150 hops)
    training_talk = json.loads((out / "streams" / "training_talk" / "stream.json").read_text())
    assert training_talk["minutes"] == pytest.approx(0.2)
    assert json.loads((out / "head" / "head.json").read_text())["talk_windows"] == 75
    assert spotter["calibration"]["fa_streams"] == [str(out / "streams" / "talk")]
    spotted = subprocess.run([sys.executable, os.path.join(ROOT, "spot_keywords.py"), "--model", str(out / "spotter"),
                              "--input", str(out / "streams" / "words" / "stream.wav"), "--threshold", "0",
                              "--out", str(tmp_path / "trace.csv")], capture_output=True, text=True)
    assert spotted.returncode == 0, spotted.stderr[-3000:]
    rows = (tmp_path / "trace.csv").read_text().split()[1:]
    assert rows and {row.split(",")[1] for row in rows} <= {"_silence_", "_unknown_", "lights_on", "hey_pi"}


def _recordings_de(folder, words=("licht an", "hallo")):
    rng = np.random.default_rng(1)
    for word in words:
        os.makedirs(folder / word)
        for n in range(3):
            audio.write_wav(str(folder / word / f"take{n}.wav"), 0.1 * rng.standard_normal(16000).astype(np.float32))
    (folder / words[1] / "broken.wav").write_bytes(b"")


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


def test_benchmark_negatives_are_training_words_and_noise_the_evaluation_never_uses(tmp_path):
    real = tmp_path / "real"
    os.makedirs(real / "_background_noise_")
    for name in ("real_silence_clips.wav", "running_tap.wav", "pink_noise.wav"):
        (real / "_background_noise_" / name).write_bytes(b"")
    clips = {"training": [("go", "/x/go/a.wav"), ("bed", "/x/bed/b.wav"), ("cat", "/x/cat/c.wav")],
             "validation": [("bed", "/x/bed/v.wav"), ("go", "/x/go/w.wav")], "testing": [("cat", "/x/cat/t.wav")]}
    folder = _benchmark().make_negatives(str(tmp_path / "out"), clips, ["go"], str(real))
    assert sorted(os.listdir(folder)) == ["_background_noise_", "bed", "cat", "testing_list.txt", "validation_list.txt"]
    assert sorted(os.listdir(os.path.join(folder, "bed"))) == ["b.wav", "v.wav"]
    assert os.listdir(os.path.join(folder, "cat")) == ["c.wav"]  # no testing clip: the figures are measured on them
    # the validation list's other words are the validation split: the talk custom_keywords.py calibrates on
    assert open(os.path.join(folder, "validation_list.txt")).read().split() == ["bed/v.wav"]
    assert os.listdir(os.path.join(folder, "_background_noise_")) == ["pink_noise.wav"]
    assert sorted(p for _, p in _benchmark().noise_recordings(str(real), held_out=True)) == [
        str(real / "_background_noise_" / n) for n in ("real_silence_clips.wav", "running_tap.wav")]


def test_head_clips_are_placed_after_other_audio():
    clips = [np.full(100, n + 1.0, np.float32) for n in range(3)] + [np.arange(300, dtype=np.float32)]
    after_audio = oww_embeddings.in_context(clips, 250, np.random.default_rng(0), context_probability=1.0)
    after_zeros = oww_embeddings.in_context(clips, 250, np.random.default_rng(0), context_probability=0.0)
    for n in range(3):
        assert np.array_equal(after_audio[n][-100:], clips[n]) and np.array_equal(after_zeros[n][-100:], clips[n])
        assert np.any(after_audio[n][:150] != 0) and not np.any(after_zeros[n][:150])
    assert np.array_equal(after_audio[3], clips[3][-250:])  # a clip longer than the window keeps its end
    from_pool = oww_embeddings.in_context(clips[:1], 250, np.random.default_rng(0), 1.0, pool=[np.full(300, 9.0)])
    context = from_pool[0][:150]
    assert context[0] > 0 and np.all(context == context[0])  # a gain times the pool's clip, not the list's
    assert all(len(x) == 250 for x in after_audio + after_zeros)


def _fake_front_end(embedded):
    """Stands in for openWakeWord's models: an 'embedding' of a clip is its first and last 96 samples (the
    other audio it is placed after, and its end), so the context drawn for each clip shows; the number of
    clips of each call goes to `embedded`."""
    class FakeFrontEnd:
        window_samples = 400

        def __init__(self, num_threads):
            pass

        def embed_clips(self, clips):
            embedded.append(len(clips))
            x = np.asarray(clips, np.float32)
            return np.stack([x[:, :96], x[:, -96:]], axis=1)
    return FakeFrontEnd


def test_the_head_with_recordings_continues_the_synthetic_heads_examples(synth_corpus, tmp_path, monkeypatch):
    embedded = []
    monkeypatch.setattr(oww_embeddings, "EmbeddingFrontEnd", _fake_front_end(embedded))
    recordings = tmp_path / "recordings.csv"
    rng = np.random.default_rng(0)
    rows = []
    for n in range(2):
        audio.write_wav(str(tmp_path / f"take{n}.wav"), 0.1 * rng.standard_normal(16000).astype(np.float32))
        rows.append(f"{tmp_path / f'take{n}.wav'},yes")
    recordings.write_text("path,label\n" + "\n".join(rows) + "\n")
    args, keywords = types.SimpleNamespace(workers=1, seed=0), {"yes": "yes", "no": "no"}
    examples = custom_keywords.HeadExamples(args, keywords, str(synth_corpus))
    synthetic_x, synthetic_labels = examples.clips([])
    both_x, both_labels = examples.clips([str(recordings)])
    assert embedded == [len(synthetic_x), 2]  # the corpus's clips are not embedded again
    again_x, again_labels = custom_keywords.HeadExamples(args, keywords, str(synth_corpus)).clips([str(recordings)])
    np.testing.assert_array_equal(both_x, again_x)  # as if embedded again, the same random context
    np.testing.assert_array_equal(both_labels, again_labels)
    np.testing.assert_array_equal(both_x[:len(synthetic_x)], synthetic_x)
    assert both_labels[len(synthetic_labels):].tolist() == [2, 2]  # yes, after _silence_ and _unknown_
    with pytest.raises(ValueError, match="do not continue"):
        examples.clips([str(tmp_path / "other.csv")])
