"""make_synthetic_dataset.py on a tiny corpus: layout, splits, test set, determinism, hang recovery."""

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from kws.data import audio
from kws.data import corpus as layout  # "corpus" names the test corpus here
from kws.data import labels
from kws.data import make_synthetic_dataset as synth

TINY = ["--speakers", "8", "--words", "yes,no,cat", "--test_clips", "20", "--noise_duration_s", "1",
        "--seed", "5", "--timeout_s", "5"]


def file_hashes(root):
    """sha256 of every file under root, keyed by relative path."""
    hashes = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                hashes[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return hashes


@pytest.fixture(scope="module")
def noise_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real_noise")
    audio.write_wav(folder / "room_tone.wav", 0.05 * np.random.default_rng(0).standard_normal(3 * 16000))
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, noise_dir):
    out = tmp_path_factory.mktemp("synth") / "corpus"
    summary = synth.main(["--out", str(out), *TINY, "--noise_dir", str(noise_dir), "--workers", "2"])
    return out, summary


def test_training_layout(corpus):
    out, summary = corpus
    audio_dir = out / "train" / "audio"
    assert sorted(os.listdir(audio_dir)) == sorted(["yes", "no", "cat", labels.BACKGROUND_NOISE_DIR])
    clips = [p for w in ("yes", "no", "cat") for p in (audio_dir / w).iterdir()]
    assert len(clips) == summary["train_clips"] > 8
    for path in clips:
        assert re.fullmatch(r"[0-9a-f]{8}_nohash_\d+\.wav", path.name)
        data = path.read_bytes()
        assert data[20:24] == b"\x01\x00\x01\x00" and data[24:28] == (16000).to_bytes(4, "little")  # PCM mono 16k
        samples = audio.read_wav(path)
        assert 4000 < len(samples) <= audio.CLIP_SAMPLES and np.max(np.abs(samples)) > 0.001


def test_background_noise_folder(corpus, noise_dir):
    out, _ = corpus
    folder = out / "train" / "audio" / labels.BACKGROUND_NOISE_DIR
    generated = sorted(p.name for p in folder.glob("synthetic_*_noise.wav"))
    assert len(generated) >= 5 and {"synthetic_pink_noise.wav", "synthetic_babble_noise.wav"} <= set(generated)
    for name in generated:
        assert len(audio.read_wav(folder / name)) == audio.SAMPLE_RATE  # --noise_duration_s 1 in this test
    assert (folder / "room_tone.wav").read_bytes() == (noise_dir / "room_tone.wav").read_bytes()
    assert synth.build_parser().parse_args(["--out", "x"]).noise_duration_s >= 60


def test_list_files_are_split_by_speaker(corpus):
    out, _ = corpus
    train_dir = out / "train"
    every = {f"{w}/{p.name}" for w in ("yes", "no", "cat") for p in (train_dir / "audio" / w).iterdir()}
    lists = {name: (train_dir / f"{name}_list.txt").read_text().split() for name in ("validation", "testing")}
    assert lists["validation"] and lists["testing"]
    assert set(lists["validation"]) | set(lists["testing"]) <= every
    speakers = {name: {p.split("/")[1].split("_")[0] for p in paths} for name, paths in lists.items()}
    speakers["training"] = {p.split("/")[1].split("_")[0] for p in every - set(lists["validation"] + lists["testing"])}
    assert not speakers["validation"] & speakers["testing"]
    assert not (speakers["validation"] | speakers["testing"]) & speakers["training"]


def test_training_clips_csv_lists_the_training_split_for_mixing(corpus):
    out, _ = corpus
    train_dir = out / "train"
    held_out = set((train_dir / "validation_list.txt").read_text().split())
    held_out |= set((train_dir / "testing_list.txt").read_text().split())
    every = {f"{w}/{p.name}" for w in ("yes", "no", "cat") for p in (train_dir / "audio" / w).iterdir()}
    rows = layout.read_pseudo_labels(str(train_dir / synth.TRAINING_CLIPS_FILE))
    listed = {os.path.relpath(path, train_dir / "audio"): label for _, path, label in rows}
    assert set(listed) == every - held_out
    assert all(key.split("/")[0] == label for key, label in listed.items())


def test_test_set_matches_solution_and_uses_new_speakers(corpus):
    out, summary = corpus
    names = sorted(os.listdir(out / "test" / "audio"))
    with open(out / "test" / "solution.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["fname"] for r in rows] == names and len(names) == 20 == summary["test_clips"]
    assert all(re.fullmatch(r"clip_[0-9a-f]{9}\.wav", n) for n in names)
    assert all(r["label"] == labels.kaggle_label(r["word"]) for r in rows)
    words = [r["word"] for r in rows]
    assert words.count(labels.SILENCE_LABEL) == 2 and sum(r["label"] == "unknown" for r in rows) == 2
    assert {w for w in words if w in labels.COMMAND_WORDS} == {"yes", "no"}  # the command words asked for
    for name in names:
        assert len(audio.read_wav(out / "test" / "audio" / name)) == audio.CLIP_SAMPLES
    corpus_info = json.loads((out / synth.CORPUS_FILE).read_text())
    splits = {s["speaker_id"]: s["split"] for s in corpus_info["speaker_settings"]}
    test_speakers = {sid for sid, split in splits.items() if split == "test_set"}
    train_speakers = {p.name[:8] for p in (out / "train" / "audio").glob("*/*_nohash_*.wav")}
    assert test_speakers and not test_speakers & train_speakers
    assert len(splits) == 8


def test_same_seed_same_bytes_with_one_worker(corpus, noise_dir, tmp_path):
    out, _ = corpus
    again = tmp_path / "again"
    synth.main(["--out", str(again), *TINY, "--noise_dir", str(noise_dir), "--workers", "1"])
    assert file_hashes(again) == file_hashes(out)


def test_hung_worker_is_killed_and_the_run_completes(corpus, noise_dir, tmp_path, monkeypatch, caplog):
    out, _ = corpus
    hung_clip = next(p for p in sorted(file_hashes(out)) if p.startswith("train/audio/yes/"))
    monkeypatch.setenv(synth.HANG_HOOK_ENV, hung_clip)
    recovered = tmp_path / "recovered"
    synth.main(["--out", str(recovered), *TINY[:-2], "--timeout_s", "2", "--noise_dir", str(noise_dir),
                "--workers", "2"])
    assert f"no progress for 2 s (attempt 1, at {hung_clip})" in caplog.text  # it hung and was killed
    assert file_hashes(recovered) == file_hashes(out)  # every file, and the same bytes
    assert not [p for p in file_hashes(recovered) if ".tmp" in p]


def test_engine_is_deterministic_in_a_fresh_process_at_another_time():
    """eSpeak seeds its random generator from the clock; a breathy voice shows it unless reseeded."""
    code = ("import hashlib; from kws.data import espeak; e = espeak.Engine(); "
            "print(hashlib.sha256(e.synthesize('forward', 'en-us+f5', seed=3).tobytes()).hexdigest())")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = []
    for _ in range(2):
        runs.append(subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                                   check=True).stdout)
        time.sleep(1.1)  # a different second on the clock
    assert runs[0] == runs[1] and len(runs[0]) > 60


def test_refuses_a_non_empty_output_and_bad_inputs(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit):
        synth.main(["--out", str(tmp_path), *TINY])
    assert "--overwrite" in capsys.readouterr().err and (tmp_path / "keep.txt").exists()
    bad_noise = tmp_path / "noise"
    bad_noise.mkdir()
    (bad_noise / "broken.wav").write_text("not audio")
    with pytest.raises(SystemExit):
        synth.main(["--out", str(tmp_path / "new"), *TINY, "--noise_dir", str(bad_noise)])
    assert "broken.wav" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synth.main(["--out", str(tmp_path / "new"), "--words", "yes,_silence_"])
    assert not (tmp_path / "new").exists()


def test_overwrite_replaces_only_the_corpus(corpus, noise_dir, tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "train").mkdir()
    (out / "train" / "stale.wav").write_bytes(b"old")
    with pytest.raises(SystemExit):  # a train/ without corpus.json is not this script's to delete
        synth.main(["--out", str(out), *TINY, "--test_clips", "0", "--words", "cat", "--overwrite"])
    assert (out / "train" / "stale.wav").read_bytes() == b"old"
    (out / synth.CORPUS_FILE).write_text("{}")  # an earlier corpus: --overwrite replaces it
    summary = synth.main(["--out", str(out), *TINY, "--test_clips", "0", "--words", "cat", "--overwrite"])
    assert (out / "notes.txt").read_text() == "mine" and not (out / "train" / "stale.wav").exists()
    assert summary["test_clips"] == 0 and os.listdir(out / "train" / "audio" / "cat")
    assert not (out / synth.PARTIAL_MARKER).exists()


def test_dry_run_plans_without_writing(tmp_path):
    summary = synth.main(["--out", str(tmp_path / "none"), "--dry_run"])
    assert summary["train_clips"] > 5000 and summary["test_clips"] == 1000  # the default corpus
    assert not (tmp_path / "none").exists()


class Counter:
    total = 0

    def update(self, n):
        self.total += n


def crash_then_hang_target(items, attempt, plain_indexes, conn):
    """Pool target: dies on attempt 0, hangs on item 1 until it is to be rendered plainly."""
    conn.send(("ready",))
    for index, _ in enumerate(items):
        if attempt == 0 and index == 1:
            os._exit(3)
        if index == 1 and index not in plain_indexes:
            time.sleep(60)
        conn.send(("done", index))
    conn.send(("finished", 0.0))
    conn.close()


def test_pool_reruns_crashed_and_hung_chunks_then_goes_plain(caplog):
    progress = synth.espeak.FreshProcessPool(crash_then_hang_target, [["a", "b", "c"], ["d"]], (), workers=2,
                                             timeout_s=1, progress=Counter()).run().progress
    assert progress.total == 4  # every item counted once, despite the reruns
    assert "worker exited with code 3" in caplog.text
    assert caplog.text.count("no progress for 1 s") == synth.espeak.MAX_HANGS - 1  # the crash was the 1st


def test_corpus_json_names_the_speech_commands_vocabulary(corpus):
    out, _ = corpus
    info = json.loads((out / synth.CORPUS_FILE).read_text())
    assert info["language"] == "en" and info["keywords"] == ["yes", "no"]  # "cat" of a Speech Commands list: filler
    assert info["phrases"] == {"yes": "yes", "no": "no", "cat": "cat"}
    assert info["near_misses"] == {} and info["other_words"] == []
