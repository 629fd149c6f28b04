"""Hostile input: crafted WAVs and CSVs, bad settings, files in the way, interruptions (issue 12).

Every outcome is a clip, a named and counted unreadable file, or `error: ...` with exit status 2;
no script replaces a file it did not write unless told to with --overwrite, and none writes over
its own inputs.
"""

import argparse
import ast
import csv
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import conftest
from conftest import load_benchmark
from kws.data import audio
from kws import cli
from kws.submit import convert_probs
from kws.data import corpus
from kws.submit import create_pseudo_with_thresh as pseudo
from kws.submit import ensemble
from kws.export import freeze_graph
from kws.data import input_data
from kws.data import labels
from kws.submit import make_submission
from kws.export import make_submission_on_rpi as rpi
from kws.export import runtime
from kws.submit import probs
from kws import runs
from kws.submit import score_submission
from kws.training import settings
from kws.training import teachers
from kws.training import train
from test_freeze_graph import TONE_HZ, frozen_tiny_model, tone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG_SEED = 12


def wav(payload, tag=1, channels=1, rate=16000, bits=16, extensible=False):
    """WAV bytes with any format header (extensible: WAVE_FORMAT_EXTENSIBLE with `tag` as sub-format)."""
    block = channels * bits // 8
    byte_rate = (rate * block) & 0xFFFFFFFF  # a header field, whatever the rate
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, byte_rate, block, bits)
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
           "Pi reader": lambda data: runtime.read_clip(data, "t.wav")[0]}


def recorded_clip():
    """The first clip of the team's real recordings (../shared/data), or None where they are absent."""
    from conftest import REAL_TRAIN

    folder = os.path.join(REAL_TRAIN, "yes")
    if not os.path.isdir(folder):
        return None
    with open(os.path.join(folder, sorted(os.listdir(folder))[0]), "rb") as f:
        return f.read()


@pytest.mark.parametrize("reader", READERS)
def test_every_truncation_of_a_real_file_is_a_clip_or_a_named_unreadable_file(reader):
    files = real_files()
    if recorded_clip() is not None:
        files["recorded"] = recorded_clip()
    for kind, content in files.items():
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


# ------------------------------------------------------------------ a folder of crafted files

# Readable clips under names that break naive CSV writers and readers.
GOOD_NAMES = ("plain.wav", "with space.wav", "with,comma.wav", 'with"quote.wav', "it's.wav", " leading space.wav",
              "ünïcödé.wav", "日本語.wav", "LOUD.WAV", "zeros.wav")
# Unreadable files: name -> (content maker, the problem audio.py names)
BAD = {
    "empty.wav": (lambda good: b"", "empty file"),
    "trunc30.wav": (lambda good: good[:30], "truncated 'fmt ' chunk"),  # `head -c 30 clip.wav`
    "trunc_samples.wav": (lambda good: good[:1000], "truncated: the header declares"),
    "garbage.wav": (lambda good: bytes(np.random.default_rng(3).integers(0, 256, 500, dtype=np.uint8)), "not a WAV"),
    "text, really.wav": (lambda good: b"just some text", "not a WAV"),
    "nan.wav": (lambda good: wav(np.full(16000, np.nan, "<f4").tobytes(), tag=3, bits=32), "NaN or infinite"),
    "inf.wav": (lambda good: wav(np.where(np.arange(16000) == 5, np.inf, 0.1).astype("<f4").tobytes(), tag=3, bits=32),
                "NaN or infinite"),
    "rate_1hz.wav": (lambda good: wav(np.zeros(16000, "<i2").tobytes(), rate=1), "invalid header"),
    "adpcm.wav": (lambda good: wav(bytes(4000), tag=2, bits=4), "compressed"),
    "no_samples.wav": (lambda good: wav(b""), "no samples"),
}


def make_hostile_folder(folder):
    """Every kind of bad WAV above next to readable clips with awkward names; returns the folder."""
    os.makedirs(folder)
    words = list(TONE_HZ)
    for i, name in enumerate(GOOD_NAMES):
        samples = np.zeros(16000, np.float32) if name == "zeros.wav" else tone(TONE_HZ[words[i % 4]], seed=i)
        audio.write_wav(os.path.join(folder, name), samples)
    good = audio.wav_bytes(tone(700.0))
    for name, (make, _) in BAD.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(make(good))
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not a clip")
    return str(folder)


ALL_WAVS = sorted([*GOOD_NAMES, *BAD])


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return frozen_tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory):
    return make_hostile_folder(os.path.join(tmp_path_factory.mktemp("hostile"), "test"))


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_every_wav_and_csv_script_keeps_one_row_per_clip_and_names_every_unreadable_file(frozen, hostile_dir,
                                                                                          tmp_path, capsys):
    run_dir, frozen_files = frozen
    result = make_submission.main(["--run_dir", run_dir, "--test_dir", hostile_dir, "--out",
                                   str(tmp_path / "keras.csv"), "--no_progress"])
    assert {name for name, _ in result["unreadable"]} == set(BAD)
    for name, problem in result["unreadable"]:
        assert BAD[name][1] in problem, name
    for written in result["outputs"].values():
        assert [row[0] for row in csv_rows(written)[1:]] == sorted(ALL_WAVS), written  # one row per clip
    keras_labels = dict(csv_rows(tmp_path / "keras.csv")[1:])
    assert {keras_labels[name] for name in BAD} == {keras_labels["zeros.wav"]}  # unreadable = an all-zero clip

    capsys.readouterr()
    rpi.main(["--model", frozen_files["tflite"], "--test_data", hostile_dir, "--submission_fn",
              str(tmp_path / "pi.csv"), "--num_threads", "1"])
    assert f"{len(BAD)} unreadable" in capsys.readouterr().out
    assert (tmp_path / "pi.csv").read_bytes() == (tmp_path / "keras.csv").read_bytes()  # same quoting, same rows

    solution = tmp_path / "solution.csv"
    with open(solution, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["fname", "label"], *[[name, "silence"] for name in ALL_WAVS]])
    assert score_submission.main(["--solution", str(solution), "--submission", str(tmp_path / "pi.csv")])["rows"] \
        == len(ALL_WAVS)
    convert_probs.main(["--probs", str(tmp_path / "keras_probs.csv"), "--out", str(tmp_path / "kaggle")])
    ensemble.main(["--probs", str(tmp_path / "kaggle.json"), str(tmp_path / "keras_probs.csv"), "--to_kaggle",
                   "--out", str(tmp_path / "ens")])
    assert [row[0] for row in csv_rows(tmp_path / "ens.csv")[1:]] == sorted(ALL_WAVS)


def test_a_training_folder_lists_every_bad_file_as_unreadable_and_never_learns_from_it(tmp_path):
    data = tmp_path / "data"
    for word in ("yes", "no"):
        os.makedirs(data / word)
        for i in range(3):
            audio.write_wav(data / word / f"spk{i}_nohash_0.wav", tone(TONE_HZ[word], seed=i))
    good = audio.wav_bytes(tone(700.0))
    for name, (make, _) in BAD.items():
        (data / "yes" / f"bad{name}").write_bytes(make(good))
    report = input_data.main([str(data), "--json", "--wanted_words", "yes", "no"])
    unreadable = {os.path.basename(u["path"]): u["problem"] for u in report["unreadable"]}
    assert set(unreadable) == {f"bad{name}" for name in BAD}
    for name, (_, problem) in BAD.items():
        assert problem in unreadable[f"bad{name}"]


def test_pseudo_labels_of_awkward_names_read_back_as_the_copied_clips(hostile_dir, tmp_path, caplog):
    classes = ["_silence_", "_unknown_", "yes"]
    values = np.tile(np.float32([0.05, 0.05, 0.9]), (len(ALL_WAVS), 1))
    values[ALL_WAVS.index("nan.wav")] = [0.9, 0.05, 0.05]  # an unreadable "silence" clip: not joined into noise
    probs.write_probs_csv(tmp_path / "p.csv", probs.ProbTable(ALL_WAVS, classes, values))
    with caplog.at_level(logging.WARNING):
        result = pseudo.main(["--probs", str(tmp_path / "p.csv"), "--threshold", "0.5", "--test_dir", hostile_dir,
                              "--out", str(tmp_path / "pseudo")])
    assert result["kept"] == len(ALL_WAVS)
    rows = corpus.read_pseudo_labels(str(tmp_path / "pseudo" / "pseudo_labels.csv"))
    assert sorted(key for key, _, _ in rows) == sorted(
        ["silence/nan.wav"] + [f"audio/yes/{name}" for name in ALL_WAVS if name != "nan.wav"])
    for key, path, label in rows:
        assert open(path, "rb").read() == open(os.path.join(hostile_dir, os.path.basename(key)), "rb").read()
    assert "nan.wav" in caplog.text and "left out of the noise files" in caplog.text


# ------------------------------------------------------------------ probability files that are not

def torn_and_edited_probability_files(folder):
    """{kind: path} of probability CSVs whose rows are not distributions."""
    fnames = ["a.wav", "b.wav"]
    good = probs.write_probs_csv(os.path.join(folder, "good.csv"),
                                 probs.ProbTable(fnames, labels.KAGGLE_PROB_ORDER,
                                                 np.full((2, 12), 1 / 12, np.float32)))
    text = open(good, encoding="utf-8").read()
    torn = os.path.join(folder, "torn.csv")  # the last number cut by a crash: ...,0.
    with open(torn, "w", encoding="utf-8") as f:
        f.write(text[:text.rindex("0.") + 2])
    point_nine = os.path.join(folder, "point_nine.csv")
    with open(point_nine, "w", encoding="utf-8") as f:
        f.write(text.splitlines()[0] + "\n" + "".join(f"{n}," + ",".join(["0.9"] * 12) + "\n" for n in fnames))
    return {"torn": torn, "point_nine": point_nine, "good": good}


@pytest.mark.parametrize("kind", ["torn", "point_nine"])
def test_probability_rows_that_do_not_sum_to_one_are_an_error_naming_the_file(kind, tmp_path, capsys):
    files = torn_and_edited_probability_files(str(tmp_path))
    bad = files[kind]
    commands = [(convert_probs.main, ["--probs", bad, "--out", str(tmp_path / "k")]),
                (ensemble.main, ["--probs", files["good"], bad, "--out", str(tmp_path / "e")]),
                (pseudo.main, ["--probs", bad, "--threshold", "0", "--test_dir", str(tmp_path), "--out",
                               str(tmp_path / "ps")])]
    for main, argv in commands:
        with pytest.raises(SystemExit) as stopped:
            cli.run(main, argv)
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert f"error: {bad}: " in err and "do not sum to 1" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["good.csv", "point_nine.csv", "torn.csv"]  # nothing written


def test_teacher_probabilities_that_do_not_sum_to_one_are_an_error(tmp_path):
    files = torn_and_edited_probability_files(str(tmp_path))
    model_labels = labels.model_labels(labels.COMMAND_WORDS)
    with pytest.raises(cli.UserError, match=r"point_nine.csv:2: probabilities must lie in \[0, 1\] and sum to 1"):
        teachers.read_teacher_probs(files["point_nine"], model_labels, {"a.wav", "b.wav"}, ["a.wav", "b.wav"])
    assert len(teachers.read_teacher_probs(files["good"], model_labels, {"a.wav"}, ["a.wav", "b.wav"])) == 1


# ------------------------------------------------------------------ files in the way

def test_no_script_replaces_a_file_it_did_not_write_nor_writes_over_its_inputs(frozen, hostile_dir, tmp_path):
    run_dir, frozen_files = frozen
    solution = tmp_path / "solution.csv"
    solution.write_text("fname,label\nplain.wav,yes\n")
    with pytest.raises(cli.UserError, match=r"solution.csv already exists; pass --overwrite"):
        make_submission.main(["--run_dir", run_dir, "--test_dir", hostile_dir, "--out", str(solution)])
    assert solution.read_text() == "fname,label\nplain.wav,yes\n"
    assert sorted(os.listdir(tmp_path)) == ["solution.csv"]  # checked before any work: nothing else written

    notes = tmp_path / "notes.csv"
    notes.write_text("my notes")
    with pytest.raises(cli.UserError, match="notes.csv already exists"):
        rpi.main(["--model", frozen_files["tflite"], "--test_data", hostile_dir, "--submission_fn", str(notes)])
    assert notes.read_text() == "my notes" and not os.path.exists(f"{notes}{rpi.JOURNAL_SUFFIX}")
    with pytest.raises(cli.UserError, match="the output is the input"):
        rpi.main(["--model", frozen_files["tflite"], "--test_data", hostile_dir, "--submission_fn",
                  frozen_files["labels"], "--overwrite"])

    reference = probs.write_probs_csv(str(tmp_path / "ref_probs.csv"), probs.ProbTable(
        ["a.wav"], labels.model_labels(list(TONE_HZ)), np.full((1, 6), 1 / 6, np.float32)))
    before = open(reference, "rb").read()
    for extra in ([], ["--overwrite"]):  # the output is the input: never, not even with --overwrite
        with pytest.raises(cli.UserError, match="ref_probs.csv: the output is the input"):
            convert_probs.main(["--probs", reference, "--out", str(tmp_path / "ref_probs"), *extra])
        with pytest.raises(cli.UserError, match="ref_probs.csv: the output is the input"):
            ensemble.main(["--probs", reference, "--out", str(tmp_path / "ref"), *extra])
    assert open(reference, "rb").read() == before

    prefix = tmp_path / "tf" / "tiny"
    os.makedirs(prefix.parent)
    (tmp_path / "tf" / "tiny.pb").write_bytes(b"someone else's graph")
    with pytest.raises(cli.UserError, match="tiny.pb already exists; pass --overwrite"):
        freeze_graph.main(["--run_dir", run_dir, "--out", str(prefix)])
    assert os.listdir(prefix.parent) == ["tiny.pb"]

    data_dir = runs.read_json(os.path.join(run_dir, runs.CONFIG_FILE))["data"]["data_dir"][0]
    with pytest.raises(cli.UserError, match="the output is the input"):
        train.main(["--run_dir", data_dir, "--data_dir", data_dir, "--overwrite", "--model", "pi", "--epochs", "1",
                    "--steps_per_epoch", "1", "--batch_size", "4", "--wanted_words", "yes", "no"])
    assert not os.path.exists(os.path.join(data_dir, runs.CONFIG_FILE))


def test_create_pseudo_overwrite_removes_only_what_it_wrote(tmp_path):
    test = tmp_path / "test"
    os.makedirs(test / "audio")
    for i in range(40):
        audio.write_wav(test / "audio" / f"clip_{i:02d}.wav", tone(300.0 + 10 * i))
    fnames = [f"clip_{i:02d}.wav" for i in range(40)]
    values = np.tile(np.float32([0.1, 0.1, 0.8]), (40, 1))
    probs.write_probs_csv(tmp_path / "p.csv", probs.ProbTable(fnames, ["_silence_", "_unknown_", "yes"], values))
    argv = ["--probs", str(tmp_path / "p.csv"), "--threshold", "0.5", "--test_dir", str(test)]
    with pytest.raises(cli.UserError, match="audio: the output (is|holds) the input"):  # --out = the test folder
        pseudo.main([*argv, "--out", str(test), "--overwrite"])
    assert sorted(os.listdir(test / "audio")) == fnames

    out = tmp_path / "out"
    os.makedirs(out / "audio" / "mine")
    (out / "audio" / "mine" / "keep.txt").write_text("a folder the script never wrote")
    with pytest.raises(cli.UserError, match=r"\['audio'\] were not written by create_pseudo_with_thresh.py"):
        pseudo.main([*argv, "--out", str(out), "--overwrite"])
    assert (out / "audio" / "mine" / "keep.txt").exists()

    shutil.rmtree(out / "audio")
    pseudo.main([*argv, "--out", str(out)])
    assert runs.read_json(out / pseudo.MARKER)["outputs"] == ["pseudo_labels.csv", "audio"]
    pseudo.main([*argv[:3], "0.9", *argv[4:], "--out", str(out), "--overwrite"])  # its own outputs: replaced
    assert (out / "pseudo_labels.csv").read_text() == "path,label\n"


def test_create_pseudo_with_no_clip_over_the_threshold_writes_the_empty_list(tmp_path, caplog):
    os.makedirs(tmp_path / "test")
    audio.write_wav(tmp_path / "test" / "a.wav", tone(300.0))
    probs.write_probs_csv(tmp_path / "p.csv", probs.ProbTable(["a.wav"], ["_silence_", "yes"], [[0.4, 0.6]]))
    with caplog.at_level(logging.WARNING):
        result = pseudo.main(["--probs", str(tmp_path / "p.csv"), "--threshold", "0.7", "--test_dir",
                              str(tmp_path / "test"), "--out", str(tmp_path / "pseudo")])
    assert result["kept"] == 0 and "no clip reaches the threshold 0.7" in caplog.text
    assert (tmp_path / "pseudo" / "pseudo_labels.csv").read_text() == "path,label\n"
    assert sorted(os.listdir(tmp_path / "pseudo")) == ["pseudo_labels.csv", "pseudo_labels.json"]


def test_make_submission_writes_all_outputs_or_none(frozen, hostile_dir, tmp_path, monkeypatch):
    run_dir, _ = frozen
    os.makedirs(tmp_path / "subs")
    for out in (str(tmp_path / "subs") + os.sep, str(tmp_path / "subs")):  # a folder is refused before any work
        with pytest.raises(cli.UserError, match="is a folder; give a file path"):
            make_submission.main(["--run_dir", run_dir, "--test_dir", hostile_dir, "--out", out])
    assert os.listdir(tmp_path / "subs") == [] and sorted(os.listdir(tmp_path)) == ["subs"]

    written = []
    real_write = probs.write_label_csv

    def disk_full_on_the_last_file(path, fnames, row_labels):
        written.append(path)
        if len(written) == 2:
            raise OSError(28, "No space left on device", path)
        return real_write(path, fnames, row_labels)
    monkeypatch.setattr(probs, "write_label_csv", disk_full_on_the_last_file)
    with pytest.raises(OSError, match="No space left"):
        make_submission.main(["--run_dir", run_dir, "--test_dir", hostile_dir, "--out", str(tmp_path / "s.csv"),
                              "--no_progress"])
    assert sorted(os.listdir(tmp_path)) == ["subs"]  # neither the outputs written first nor temporary files


def test_a_damaged_checkpoint_is_named_as_damaged(frozen, hostile_dir, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(frozen[0], run_dir)
    best = run_dir / runs.BEST_CHECKPOINT
    best.write_bytes(best.read_bytes()[:2000])
    with pytest.raises(cli.UserError, match=r"best.keras: the .keras file is damaged"):
        make_submission.main(["--run_dir", str(run_dir), "--test_dir", hostile_dir, "--out", str(tmp_path / "s.csv")])
    best.write_bytes(b"")
    with pytest.raises(cli.UserError, match=r"best.keras: the .keras file is damaged"):
        freeze_graph.main(["--run_dir", str(run_dir), "--out", str(tmp_path / "tiny")])


@pytest.mark.parametrize("toml, message", [
    ('[modle]\nmodel = "pi"\n', r"unknown table \[modle\]"),
    ('[model]\nmodel = "pi"\n[model.extra]\nwidth = 1\n', r"unknown table \[model.extra\]"),
    ('[train]\nepochs = "3"\n', "setting 'epochs' must be an integer"),
])
def test_a_misspelled_table_or_wrong_type_in_an_experiment_file_is_an_error(toml, message, tmp_path, capsys):
    path = tmp_path / "7_bad.toml"
    path.write_text(toml)
    with pytest.raises(SystemExit) as stopped:
        cli.run(train.main, ["--experiment", str(path), "--run_dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and f"error: {path}: " in err and "Traceback" not in err
    assert re.search(message, err)
    assert not (tmp_path / "run").exists()


def test_every_experiment_file_uses_known_tables_only():
    for name in sorted(os.listdir(os.path.join(ROOT, "experiments"))):
        settings.load_experiment(os.path.join(ROOT, "experiments", name))


# ------------------------------------------------------------------ interruptions

def test_ctrl_c_on_the_pi_exits_130_and_the_rerun_finishes_the_same_csv(frozen, hostile_dir, tmp_path):
    model_path = frozen[1]["tflite"]
    reference = tmp_path / "uninterrupted.csv"
    rpi.main(["--model", model_path, "--test_data", hostile_dir, "--submission_fn", str(reference),
              "--num_threads", "1"])
    out = str(tmp_path / "s.csv")
    command = [sys.executable, os.path.join(ROOT, "make_submission_on_rpi.py"), "--model", model_path,
               "--test_data", hostile_dir, "--submission_fn", out, "--num_threads", "1"]
    env = {**os.environ, rpi.CLIP_DELAY_ENV: "0.3"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(out + rpi.JOURNAL_SUFFIX) or \
            open(out + rpi.JOURNAL_SUFFIX, "rb").read().count(b"\n") < 4:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before Ctrl-C"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == cli.EXIT_INTERRUPTED, err
    assert "run again to continue" in err and "Traceback" not in err and not os.path.exists(out)
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    assert open(out, "rb").read() == reference.read_bytes()


# ------------------------------------------------------------------ the command line of every script

SCRIPTS = ("benchmark_model", "convert_probs", "create_pseudo_with_thresh", "custom_keywords", "demo", "download_dataset", "ensemble",
           "freeze_graph", "generate_noise", "input_data", "make_spotter", "make_streaming_test", "make_submission",
           "make_submission_on_rpi", "make_synthetic_dataset", "mine_negatives", "model", "score_streaming",
           "score_submission", "spot_keywords", "train")
BENCHMARKS = tuple(f"benchmarks.{os.path.splitext(name)[0]}"
                   for name in sorted(os.listdir(os.path.join(ROOT, "benchmarks"))) if name.endswith(".py"))


def script_module(name):
    """The module whose main() a script runs: a top-level script's in kws/ (its `from kws... import main`),
    or a benchmark."""
    return load_benchmark(name.split(".", 1)[1]) if name.startswith("benchmarks.") else conftest.script_module(name + ".py")


def script_file(name):
    return os.path.join(ROOT, *name.split(".")) + ".py"


@pytest.mark.parametrize("name", SCRIPTS + BENCHMARKS)
def test_every_script_ends_in_the_shared_entry_point_and_help_shows_its_whole_docstring(name, capsys):
    with open(script_file(name), encoding="utf-8") as f:
        source = f.read()
    assert source.endswith('\nif __name__ == "__main__":\n    cli.run(main)\n')
    module = script_module(name)
    with pytest.raises(SystemExit) as stopped:
        module.main(["--help"])
    assert stopped.value.code == 0
    shown = capsys.readouterr().out
    docstrings = module.__doc__ + ast.get_docstring(ast.parse(source), clean=False)  # and the script's own
    missing = [line for line in docstrings.splitlines() if line.strip() and line.rstrip() not in shown]
    assert not missing, f"--help of {name} leaves out {missing[:3]}"


class _Parsed(Exception):
    pass


def documented_flags(name, doc):
    """The --flags of the docstring's command lines (`python X.py ...` and their continuation lines)."""
    command = f"python {os.path.relpath(script_file(name), ROOT)}"
    flags, in_command = set(), False
    for line in doc.splitlines():
        if command in line:
            in_command = True
        elif not line.strip() or not line.startswith("        "):
            in_command = False
        if in_command:
            flags |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9_]*", line.split("#")[0]))
    return flags


@pytest.mark.parametrize("name", SCRIPTS + BENCHMARKS)
def test_every_flag_a_docstring_shows_exists(name, monkeypatch):
    parsers = []

    def capture(parser, args=None, namespace=None):
        parsers.append(parser)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    module = script_module(name)
    with pytest.raises(_Parsed):
        module.main([])
    known = set(parsers[0]._option_string_actions)
    assert documented_flags(name, module.__doc__) - known == set()


def test_steps_per_epoch_is_documented_as_what_it_does():
    help_text = settings._spec()["steps_per_epoch"][3]
    assert "at most one pass" in help_text


@pytest.fixture
def user_errors(frozen, tmp_path):
    """{script: (argv, text the error line must hold)}: a typical mistake of each script."""
    run_dir, frozen_files = frozen
    os.makedirs(tmp_path / "nonempty")
    (tmp_path / "nonempty" / "x.txt").write_text("x")
    files = torn_and_edited_probability_files(str(tmp_path))
    other = probs.write_probs_csv(str(tmp_path / "other.csv"), probs.ProbTable(
        ["z.wav"], labels.KAGGLE_PROB_ORDER, np.full((1, 12), 1 / 12, np.float32)))
    submission = tmp_path / "sub.csv"
    submission.write_text("fname,label\na.wav,maybe\nb.wav,yes\n")
    solution = tmp_path / "solution.csv"
    solution.write_text("fname,label\na.wav,yes\nb.wav,yes\n")
    missing = str(tmp_path / "missing")
    return {
        "benchmark_model": (["--model", f"{missing}.tflite"], "missing.tflite: no such model file"),
        "convert_probs": (["--probs", files["torn"], "--out", str(tmp_path / "k")],
                          "torn.csv: 1 row(s) do not sum to 1"),
        "create_pseudo_with_thresh": (["--probs", files["good"], "--threshold", "0", "--test_dir", missing,
                                       "--out", str(tmp_path / "p")], "missing: 2 of the 2 kept clips are missing"),
        "custom_keywords": (["--words", "go,,stop", "--out", str(tmp_path / "ck")],
                            "--words must be a comma list of distinct keywords"),
        "demo": (["--experiment", "999"], "experiment '999': expected exactly one matching file"),
        "download_dataset": (["--version", "v0.01", "--out", str(tmp_path / "d"), "--archive", f"{missing}.tar.gz"],
                             "missing.tar.gz: archive not found"),
        "ensemble": (["--probs", files["good"], other, "--out", str(tmp_path / "e")], "cover different clips"),
        "freeze_graph": (["--run_dir", str(tmp_path / "nonempty")], "nonempty: not a run folder (no config.json)"),
        "generate_noise": (["--out", str(tmp_path / "n"), "--colors", "white", "--rms", "0.9", "--duration_s", "1"],
                           "synthetic_white_noise.wav: RMS 0.9 is too loud"),
        "input_data": ([missing], "missing: data folder not found"),
        "make_submission": (["--run_dir", run_dir, "--test_dir", missing, "--out", str(tmp_path / "s.csv")],
                            "missing: no such test folder"),
        "make_submission_on_rpi": (["--model", frozen_files["tflite"], "--test_data", str(tmp_path / "nonempty"),
                                    "--submission_fn", str(tmp_path / "s.csv")], "nonempty: no .wav files"),
        "make_synthetic_dataset": (["--out", str(tmp_path / "nonempty")], "nonempty is not empty; pass --overwrite"),
        "model": (["--list", "--num_classes", "1"], "num_classes must be an integer >= 2"),
        "make_streaming_test": (["--clips", missing, "--noise", missing, "--minutes", "1",
                                 "--out", str(tmp_path / "stream")],
                                "missing: clips folder not found"),
        "make_spotter": (["--model", frozen_files["tflite"], "--streams", missing, "--out", str(tmp_path / "sp")],
                         "missing: no stream.wav; --streams takes folders of make_streaming_test.py"),
        "mine_negatives": (["--model", frozen_files["tflite"], "--stream", missing, "--out", str(tmp_path / "m")],
                           "stream.wav: not found (make_streaming_test.py writes it)"),
        "score_streaming": (["--labels", f"{missing}.csv", "--detections", f"{missing}.csv"], "missing.csv"),
        "spot_keywords": (["--model", f"{missing}.tflite", "--input", f"{missing}.wav"],
                          "missing.tflite: no such model file"),
        "score_submission": (["--solution", str(solution), "--submission", str(submission)],
                             "sub.csv: 1 row(s) with labels outside the 12 Kaggle labels"),
        "train": (["--run_dir", str(tmp_path / "r"), "--model", "nosuch"], "unknown model 'nosuch'"),
    }


def test_a_typical_user_error_of_every_script_is_one_error_line_and_exit_status_2(user_errors, capsys):
    assert sorted(user_errors) == sorted(SCRIPTS)
    for name, (argv, message) in user_errors.items():
        with pytest.raises(SystemExit) as stopped:
            cli.run(script_module(name).main, argv)
        err = capsys.readouterr().err
        assert stopped.value.code == cli.EXIT_USER_ERROR, (name, err)
        assert "Traceback" not in err and message in err, (name, err)
        assert [line for line in err.splitlines() if "error: " in line and message in line], (name, err)


def test_a_bug_shows_its_traceback_and_ctrl_c_exits_130():
    def buggy(argv):
        return {}["no such key"]

    def interrupted(argv):
        raise KeyboardInterrupt

    with pytest.raises(KeyError):  # not turned into "error: ...": Python prints the traceback, status 1
        cli.run(buggy, [])
    with pytest.raises(SystemExit) as stopped:
        cli.run(interrupted, [])
    assert stopped.value.code == cli.EXIT_INTERRUPTED


def test_exit_statuses_on_the_command_line(tmp_path):
    missing = str(tmp_path / "missing.csv")
    done = subprocess.run([sys.executable, "score_submission.py", "--solution", missing, "--submission", missing],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == f"error: {missing}: no such label file\n"
    bug = "from kws import cli; cli.run(lambda argv: 1 / 0)"
    done = subprocess.run([sys.executable, "-c", bug], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" in done.stderr and "ZeroDivisionError" in done.stderr
