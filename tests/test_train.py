"""train.py, settings.py, train_loop.py: run folder, settings, errors, determinism, kill -9 and
resume, distillation, pseudo labels, the mirrored strategy.

The corpus is written in tmp_path: three wanted words and one other word as tones of distinct
pitch (six speakers, two clips each; list files put one speaker in validation, one in testing),
a white-noise file, and eight unlabelled "test" clips for pseudo labels. The model is a 637-
parameter DS-CNN (with batch norm and dropout, so their state is exercised), 3 epochs of 8 steps.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from kws.data import audio
from kws import cli
from kws.data import corpus as layout  # "corpus" names the test corpus here
from kws.data import labels as label_sets
from kws.models import model as model_zoo
from kws.submit import probs as prob_files
from kws import runs
from kws.training import settings
from kws.training import teachers
from kws.training import train
from kws.training import train_loop
from kws.submit import tta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = {"yes": 440.0, "no": 660.0, "up": 990.0, "cat": 1480.0}
SPEAKERS = [f"{i:08x}" for i in range(0xA0, 0xA6)]
LABELS = label_sets.model_labels(["yes", "no", "up"])
TINY = ["--wanted_words", "yes", "no", "up", "--model", "ds_cnn", "--model_params", "filters=8", "num_blocks=1",
        "--epochs", "3", "--batch_size", "4", "--loader_threads", "1", "--batch_norm_momentum", "0.9"]
COMPARED = ("epoch", "learning_rate", "loss", "accuracy", "val_accuracy", "val_kaggle_accuracy", "pseudo_probability")


def _tone(hz, seconds, rng):
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    return 0.5 * np.sin(2 * np.pi * hz * t) * np.exp(-((t - seconds / 2) / 0.2) ** 2) + 0.01 * rng.normal(size=t.size)


def write_corpus(root):
    """root/train (tarball layout with list files) and root/test/audio/clip_*.wav."""
    rng = np.random.default_rng(0)
    train_dir = root / "train"
    for word, hz in WORDS.items():
        (train_dir / word).mkdir(parents=True)
        for s, speaker in enumerate(SPEAKERS):
            for n in range(2):
                audio.write_wav(train_dir / word / f"{speaker}_nohash_{n}.wav", _tone(hz * (1 + 0.03 * s), 1.0, rng))
    (train_dir / label_sets.BACKGROUND_NOISE_DIR).mkdir()
    noise = np.clip(0.1 * rng.normal(size=3 * audio.SAMPLE_RATE), -1, 1)
    audio.write_wav(train_dir / label_sets.BACKGROUND_NOISE_DIR / "white.wav", noise)
    for list_name, speaker in (("validation_list.txt", SPEAKERS[0]), ("testing_list.txt", SPEAKERS[1])):
        (train_dir / list_name).write_text("".join(f"{w}/{speaker}_nohash_{n}.wav\n" for w in WORDS for n in range(2)))
    (root / "test" / "audio").mkdir(parents=True)
    for i, word in enumerate(["yes", "no", "up", "cat"] * 2):
        audio.write_wav(root / "test" / "audio" / f"clip_{i:09x}.wav", _tone(WORDS[word] * 1.05, 1.0, rng))
    return train_dir


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root)
    return root


@pytest.fixture(scope="module")
def baseline(corpus, tmp_path_factory):
    """(run folder, metrics) of the reference run, trained once for the module."""
    run = tmp_path_factory.mktemp("runs") / "baseline"
    return run, train.main(TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(run)])


def _rows(run):
    with open(run / "log.csv", newline="") as f:
        return [{k: row[k] for k in COMPARED} for row in csv.DictReader(f)]


def _weights(path):
    return [np.asarray(w) for w in keras.models.load_model(path, compile=False).get_weights()]


def _state(run):
    with np.load(run / runs.STATE_FILE) as arrays:
        return {k: arrays[k] for k in arrays.files}


def _read_progress(path):
    try:
        with np.load(path) as arrays:
            return json.loads(str(arrays["progress"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _assert_same_run(run, reference):
    assert _rows(run) == _rows(reference)
    for name in ("best_checkpoint", "best_val_accuracy", "test_accuracy", "test_per_class_accuracy", "final_loss"):
        assert runs.read_json(run / "metrics.json")[name] == runs.read_json(reference / "metrics.json")[name]
    for mine, theirs in zip(_weights(run / "best.keras"), _weights(reference / "best.keras")):
        np.testing.assert_array_equal(mine, theirs)
    final, expected = _state(run), _state(reference)
    for key in expected:  # every model and optimizer variable of the last epoch, incl. dropout seeds
        if key != "progress":
            np.testing.assert_array_equal(final[key], expected[key], err_msg=key)


def test_run_folder_holds_every_artifact(baseline, corpus):
    run, metrics = baseline
    config = runs.read_json(run / "config.json")
    assert config["name"] == "baseline" and config["experiment"] is None and config["seed"] == 0
    assert config["git_commit"] == "unknown" or len(config["git_commit"]) == 40
    assert config["model"] == {"name": "ds_cnn", "params": {"filters": 8, "num_blocks": 1}}
    assert config["data"]["data_dir"] == [str(corpus / "train")] and config["data"]["augment"]["time_shift_ms"] == 100.0
    assert config["train"]["epochs"] == 3 and config["train"]["batch_size"] == 4
    assert config["labels"] == LABELS == label_sets.read_labels(run / "labels.txt")
    checkpoints = sorted(p.name for p in run.glob("ep-*.keras"))
    assert checkpoints == [metrics["best_checkpoint"]]
    assert (run / "best.keras").read_bytes() == (run / checkpoints[0]).read_bytes()
    assert checkpoints[0] == f"ep-{metrics['best_epoch']:03d}-va-{metrics['best_val_accuracy']:.4f}.keras"
    assert [int(r["epoch"]) for r in _rows(run)] == [1, 2, 3]
    assert (run / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / runs.STATE_FILE).is_file() and not list(run.glob("*.tmp*"))
    assert metrics["test_samples"] == 8
    assert set(metrics["test_per_class_accuracy"]) == set(LABELS) and metrics["epochs_trained"] == 3
    assert metrics["train_samples"] == 3 * 30 and metrics["train_samples_per_second"] > 0
    net, labels, _ = runs.load_run(str(run))
    assert labels == LABELS and net.output_shape == (None, len(LABELS))


def test_metrics_score_the_testing_split_with_the_best_checkpoint(baseline):
    run, metrics = baseline
    values = settings.settings_from_config(runs.read_json(run / "config.json"), "config.json")
    testing = train.load_data(values, "")["testing"]
    net, _, _ = runs.load_run(str(run))
    predicted = np.concatenate([np.argmax(net.predict_on_batch(testing[i][0]), axis=1) for i in range(len(testing))])
    assert metrics["test_accuracy"] == pytest.approx(np.mean(predicted == testing.labels_array()))
    assert metrics["test_accuracy"] > 0.25  # tones of distinct pitch: far above the 1-in-5 of chance


def test_same_seed_same_metrics_and_weights(baseline, corpus, tmp_path):
    train.main(TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(tmp_path / "again")])
    _assert_same_run(tmp_path / "again", baseline[0])


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "Ctrl-C"])
def test_stopped_mid_epoch_then_resumed_ends_like_an_uninterrupted_run(stop, baseline, corpus, tmp_path):
    run = tmp_path / "killed"
    argv = TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(run), "--save_state_every_steps", "1"]
    with open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *argv], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
        killed_at, deadline = None, time.monotonic() + 180
        while process.poll() is None and time.monotonic() < deadline:
            progress = _read_progress(run / runs.STATE_FILE)
            if progress and progress["epoch"] >= 1 and progress["batch"] >= 2:  # mid-epoch, a best exists
                os.kill(process.pid, stop)
                killed_at = progress
                break  # once: a second Ctrl-C would interrupt the first one's orderly exit
            time.sleep(0.005)
        process.wait()
    assert killed_at, f"the run was not killed mid-epoch: {(tmp_path / 'stderr.txt').read_text()[-2000:]}"
    expected = -signal.SIGKILL if stop == signal.SIGKILL else cli.EXIT_INTERRUPTED  # Ctrl-C: the shell's 130
    assert process.returncode == expected and not (run / "metrics.json").exists()
    train.main(["--run_dir", str(run), "--resume", "--save_state_every_steps", "3"])
    _assert_same_run(run, baseline[0])
    assert train.main(["--run_dir", str(run), "--resume"])["best_checkpoint"] == baseline[1]["best_checkpoint"]


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_experiment_file_with_tables_overrides_and_time_budget(corpus, tmp_path, monkeypatch):
    experiments = tmp_path / "experiments"
    _write(experiments / "007_tiny.toml", f"""# a tiny test experiment
epochs = 3
[data]
data_dir = "{corpus / 'train'}"
wanted_words = ["yes", "no", "up"]
[model]
model = "ds_cnn"
[model_params]
filters = 8
num_blocks = 1
[train]
optimizer = "sgd"
lr_schedule = "steps"
lr_step_epochs = [1]
batch_size = 4
[augment]
background_volume_range = [0.0, 0.05]
""")
    monkeypatch.chdir(tmp_path)
    metrics = train.main(["--experiment", "7", "--experiments_dir", str(experiments), "--learning_rate", "0.05",
                          "--max_minutes", "0.00001", "--steps_per_epoch", "2"])
    run = tmp_path / "runs" / "007_tiny"
    config = runs.read_json(run / "config.json")
    assert config["experiment"] == "007_tiny" and config["name"] == "007_tiny"
    assert config["train"]["optimizer"] == "sgd" and config["train"]["learning_rate"] == 0.05
    assert config["train"]["lr_step_epochs"] == [1]
    assert config["data"]["augment"]["background_volume_range"] == [0.0, 0.05]
    assert metrics["stop_reason"] == "max_minutes" and metrics["epochs_trained"] == 1
    assert metrics["train_samples"] == 2 * 4 and (run / "metrics.json").is_file()


def _error_cases(corpus, baseline_run, tmp_path):
    data = ["--data_dir", str(corpus / "train")]
    experiments = tmp_path / "experiments"
    _write(experiments / "005_a.toml", "epochs = 1\n")
    _write(experiments / "005_b.toml", "epochs = 1\n")
    _write(experiments / "006_bad.toml", "epochs = = 3\n")
    _write(experiments / "008_typo.toml", "[train]\nepochz = 3\n")
    _write(experiments / "009_type.toml", "epochs = \"three\"\n")
    _write(experiments / "010_twice.toml", "[data]\nseed = 1\n[train]\nseed = 2\n")
    teacher = tmp_path / "teacher.csv"
    pseudo = _write(tmp_path / "pseudo.csv", "path,label\nmissing.wav,yes\n")
    run = ["--run_dir", str(tmp_path / "run")]
    exp = ["--experiments_dir", str(experiments)]
    return {
        "unknown experiment": (["--experiment", "999", *exp], "expected exactly one matching file", None),
        "several experiments": (["--experiment", "5", *exp], "005_a.toml, 005_b.toml", None),
        "malformed toml": (["--experiment", "6", *exp], "006_bad.toml: malformed TOML", None),
        "unknown key": (["--experiment", "8", *exp], "008_typo.toml: unknown setting 'train.epochz'", None),
        "wrong type": (["--experiment", "9", *exp], "009_type.toml: setting 'epochs' must be an integer", None),
        "repeated key": (["--experiment", "10", *exp], "setting 'seed' appears more than once", None),
        "no run folder": (data, "give --experiment or --run_dir", None),
        "unknown model": ([*TINY, *data, *run, "--model", "nope"], "unknown model 'nope'", None),
        "existing run": ([*TINY, *data, "--run_dir", str(baseline_run)], "already holds a run", None),
        "changed setting on resume": (["--run_dir", str(baseline_run), "--resume", "--seed", "3"],
                                      "a resumed run keeps its settings; --seed", None),
        "teacher columns": ([*TINY, *data, *run, "--teacher_probs", str(teacher)], "do not match the model labels",
                            "fname,yes,no,up,down\nyes/000000a2_nohash_0.wav,0.1,0.2,0.3,0.4\n"),
        "teacher matches nothing": ([*TINY, *data, *run, "--teacher_probs", str(teacher)], "matches a training clip",
                                    "fname,silence,unknown,yes,no,up\nyes/x.wav,0,0,1,0,0\n"),
        "teacher ambiguous name": ([*TINY, *data, *run, "--teacher_probs", str(teacher)], "names 4 clips",
                                   "fname,silence,unknown,yes,no,up\n000000a2_nohash_0.wav,0,0,1,0,0\n"),
        "pseudo file mismatch": ([*TINY, *data, *run, "--pseudo_labels", str(pseudo)], "do not exist", None),
        "init_from misfit": ([*TINY, *data, *run, "--init_from", str(baseline_run), "--model_params", "filters=16"],
                             "its weights do not fit this model", None),
        "init_from labels": ([*TINY, *data, *run, "--init_from", str(baseline_run), "--wanted_words", "yes", "no"],
                             "differ from this run's", None),
        "init_from missing": ([*TINY, *data, *run, "--init_from", str(tmp_path / "nowhere")],
                              "no such run folder or .keras file", None),
    }


@pytest.mark.parametrize("case", ["unknown experiment", "several experiments", "malformed toml", "unknown key",
                                  "wrong type", "repeated key", "no run folder", "unknown model", "existing run",
                                  "changed setting on resume", "teacher columns", "teacher matches nothing",
                                  "teacher ambiguous name", "pseudo file mismatch", "init_from misfit",
                                  "init_from labels", "init_from missing"])
def test_clear_errors_before_training(case, corpus, baseline, tmp_path):
    argv, message, teacher_text = _error_cases(corpus, baseline[0], tmp_path)[case]
    if teacher_text:
        (tmp_path / "teacher.csv").write_text(teacher_text)
    with pytest.raises(ValueError, match=None) as error:
        train.main(argv)
    assert message in str(error.value)
    assert not (tmp_path / "run").exists()


def test_init_from_starts_from_a_run_or_a_keras_file(baseline, corpus, tmp_path):
    run, _ = baseline
    expected = runs.load_run(str(run))[0].get_weights()
    for source in (run, run / runs.BEST_CHECKPOINT):
        net = model_zoo.build_model("ds_cnn", len(LABELS), filters=8, num_blocks=1)
        train.load_initial_weights(net, str(source), LABELS)
        assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), expected, strict=True))
    tuned = tmp_path / "tuned"
    metrics = train.main(TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(tuned), "--epochs", "1",
                                 "--init_from", str(run)])
    assert json.loads((tuned / runs.CONFIG_FILE).read_text())["train"]["init_from"] == str(run)
    assert metrics["epochs_trained"] == 1


def test_unknown_flag_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--run_dir", "x", "--epochz", "3"])
    assert exit_info.value.code == 2 and "--epochz" in capsys.readouterr().err


def test_distillation_with_pseudo_labels(corpus, tmp_path):
    clips = sorted((corpus / "test" / "audio").glob("clip_*.wav"))
    words = ["yes", "no", "up", "cat"] * 2
    pseudo = _write(tmp_path / "pseudo" / "pseudo_labels.csv", "path,label\n" + "".join(
        f"{os.path.relpath(c, tmp_path / 'pseudo')},{w if w != 'cat' else 'unknown'}\n" for c, w in zip(clips, words)))
    rows = [f"{c.name},0.02,0.9,0.04,0.02,0.02" if w == "cat" else
            f"{c.name},0.02,0.02," + ",".join("0.9" if w == x else "0.03" for x in ("yes", "no", "up"))
            for c, w in zip(clips, words)]
    rows.append("yes/000000a2_nohash_0.wav,0.0,0.1,0.9,0.0,0.0")  # a training clip, by its relative path
    teacher = _write(tmp_path / "teacher.csv", "fname,silence,unknown,yes,no,up\n" + "\n".join(rows) + "\n")
    run = tmp_path / "distilled"
    metrics = train.main(TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(run),
                                 "--teacher_probs", str(teacher), "--distill_temperature", "3",
                                 "--distill_weight", "0.7",
                                 "--pseudo_labels", str(pseudo), "--pseudo_only_epochs", "1",
                                 "--pseudo_ramp_epochs", "1", "--pseudo_ratio", "0.5"])
    assert [float(r["pseudo_probability"]) for r in _rows(run)] == [1.0, 0.75, 0.5]
    assert metrics["epochs_trained"] == 3 and (run / "best.keras").is_file()
    config = runs.read_json(run / "config.json")
    assert config["data"]["teacher_probs"] == str(teacher) and config["train"]["distill_weight"] == 0.7


def test_teacher_columns_kaggle_names_and_basenames(tmp_path):
    kaggle_labels = label_sets.model_labels(label_sets.COMMAND_WORDS)
    header = "fname," + ",".join(reversed(label_sets.KAGGLE_LABELS))  # another column order
    values = ",".join(str(i / 66) for i in range(12))  # a distribution: 0 + 1 + ... + 11 = 66
    path = _write(tmp_path / "t.csv", f"{header}\nclip_1.wav,{values}\ngo/a.wav,{values}\nclip_9.wav,{values}\n")
    probs = teachers.read_teacher_probs(str(path), kaggle_labels, {"clip_1.wav", "go/a.wav"},
                                     ["clip_1.wav", "go/a.wav", "yes/b.wav"])
    assert set(probs) == {"clip_1.wav", "go/a.wav"}  # clip_9.wav is no training clip
    column_of = {label: 11 - i for i, label in enumerate(label_sets.KAGGLE_LABELS)}  # reversed columns
    expected = [column_of[label_sets.kaggle_label(label)] / 66 for label in kaggle_labels]
    np.testing.assert_allclose(probs["clip_1.wav"], expected)


def test_distillation_loss_formula():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    teacher = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    hard = np.eye(4, dtype=np.float32)[[0, 2, 3]]
    packed = np.concatenate([hard, teacher, np.array([[1], [1], [0]], np.float32)], axis=1)
    loss = train_loop.per_example_loss(tf.constant(packed), tf.constant(probs), 4, 0.0, 2.0, 0.25).numpy()
    cross_entropy = -np.log(probs[[0, 1, 2], [0, 2, 3]])
    soft = lambda p: np.exp(np.log(p) / 2) / np.exp(np.log(p) / 2).sum(axis=1, keepdims=True)  # noqa: E731
    kl = (soft(teacher) * (np.log(soft(teacher)) - np.log(soft(probs)))).sum(axis=1)
    expected = np.where([True, True, False], 0.75 * cross_entropy + 0.25 * 4 * kl, cross_entropy)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    plain = train_loop.per_example_loss(tf.constant([0, 2, 3]), tf.constant(probs), 4, 0.0, 2.0, 0.25).numpy()
    np.testing.assert_allclose(plain, cross_entropy, rtol=1e-5)


def test_negative_weight_multiplies_the_loss_of_silence_and_unknown_samples_only():
    rng = np.random.default_rng(1)
    probs = tf.constant(rng.dirichlet(np.ones(4), size=4).astype(np.float32))
    labels = tf.constant([0, 1, 2, 3])  # _silence_, _unknown_, two words
    plain = train_loop.per_example_loss(labels, probs, 4, 0.1, 2.0, 0.25).numpy()
    weighted = train_loop.per_example_loss(labels, probs, 4, 0.1, 2.0, 0.25, negative_weight=3.0).numpy()
    np.testing.assert_allclose(weighted, plain * [3, 3, 1, 1], rtol=1e-6)
    teacher = rng.dirichlet(np.ones(4), size=4).astype(np.float32)
    packed = tf.constant(np.concatenate([np.eye(4, dtype=np.float32), teacher, np.ones((4, 1), np.float32)], axis=1))
    plain = train_loop.per_example_loss(packed, probs, 4, 0.0, 2.0, 0.5).numpy()
    weighted = train_loop.per_example_loss(packed, probs, 4, 0.0, 2.0, 0.5, negative_weight=2.0).numpy()
    np.testing.assert_allclose(weighted, plain * [2, 2, 1, 1], rtol=1e-6)


def test_negative_weight_ramps_up_from_one():
    values = {**settings.defaults(), "negative_weight": 5.0, "negative_weight_ramp_epochs": 3}
    assert [train_loop.negative_weight(values, e) for e in range(5)] == [2.0, 3.0, 4.0, 5.0, 5.0]
    assert train_loop.negative_weight({**values, "negative_weight_ramp_epochs": 0}, 0) == 5.0
    with pytest.raises(settings.SettingsError, match="negative_weight"):
        settings.check({**settings.defaults(), "negative_weight": 0.0})


def test_schedules():
    values = {**settings.defaults(), "epochs": 10, "learning_rate": 0.1, "lr_min": 0.001}
    lr = train_loop.learning_rate
    assert lr({**values, "lr_schedule": "cosine"}, 0, 0.0, None) == pytest.approx(0.1)
    assert lr({**values, "lr_schedule": "cosine"}, 5, 0.0, None) == pytest.approx(0.0505)
    steps = {**values, "lr_schedule": "steps", "lr_step_epochs": [3, 6]}
    assert [lr(steps, e, 0.5, None) for e in (2, 3, 6)] == pytest.approx([0.1, 0.01, 0.001])
    assert lr({**steps, "lr_step_values": [0.05, 0.02]}, 7, 0.0, None) == pytest.approx(0.02)
    assert lr({**values, "lr_schedule": "plateau"}, 4, 0.0, 0.025) == 0.025
    assert lr({**values, "lr_warmup_epochs": 2.0}, 0, 0.5, None) == pytest.approx(0.025)
    pseudo = {**values, "pseudo_labels": "p.csv", "pseudo_ratio": 0.2, "pseudo_only_epochs": 2, "pseudo_ramp_epochs": 3}
    probabilities = [train_loop.pseudo_probability(pseudo, e) for e in range(7)]
    assert probabilities == pytest.approx([1, 1, 0.8, 0.6, 0.4, 0.2, 0.2])
    assert train_loop.pseudo_probability(values, 0) is None


def test_mirrored_strategy_on_two_logical_cpus(corpus, tmp_path):
    run = tmp_path / "mirrored"
    code = ("import sys, tensorflow as tf\n"
            "cpu = tf.config.list_physical_devices('CPU')[0]\n"
            "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
            "from kws.training import train\n"
            "train.main(sys.argv[1:])\n")
    argv = TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(run), "--strategy", "mirrored",
                   "--epochs", "1"]
    result = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MirroredStrategy with devices" in result.stderr and "CPU:1" in result.stderr
    assert runs.read_json(run / "config.json")["train"]["strategy"] == "mirrored"
    for name in ("best.keras", "metrics.json", "log.csv", "labels.txt", "confusion_matrix.png"):
        assert (run / name).is_file(), name


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_multiworker_strategy_with_two_local_workers(corpus, tmp_path):
    run, ports = tmp_path / "multiworker", [_free_port(), _free_port()]
    argv = TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(run), "--strategy", "multiworker",
                   "--epochs", "1"]
    workers = []
    for index in range(2):
        cluster = {"cluster": {"worker": [f"localhost:{port}" for port in ports]},
                   "task": {"type": "worker", "index": index}}
        log_file = open(tmp_path / f"worker{index}.txt", "w")
        workers.append((subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *argv], cwd=ROOT,
                                         env={**os.environ, "TF_CONFIG": json.dumps(cluster)},
                                         stdout=subprocess.DEVNULL, stderr=log_file), log_file))
    try:
        codes = [process.wait(timeout=300) for process, _ in workers]
    finally:
        for process, log_file in workers:
            process.kill()
            log_file.close()
    assert codes == [0, 0], (tmp_path / "worker0.txt").read_text()[-3000:]
    assert runs.read_json(run / "config.json")["train"]["strategy"] == "multiworker"
    assert (run / "best.keras").is_file() and (run / "metrics.json").is_file()


EXPERIMENTS = sorted(p for p in os.listdir(os.path.join(ROOT, "experiments")) if p.endswith(".toml"))


@pytest.mark.parametrize("path", EXPERIMENTS)
def test_every_experiment_file_is_valid_and_documented(path):
    full = os.path.join(ROOT, "experiments", path)
    values = {**settings.defaults(), **settings.load_experiment(full)}
    settings.check(values)
    assert values["model"] in model_zoo.MODELS
    with open(full) as f:
        head = f.readline()
    assert head.startswith(f"# {os.path.splitext(path)[0]}:"), "the first line says what the experiment is"


def test_ema_and_spec_augment_resume_like_an_uninterrupted_run(corpus, tmp_path):
    argv = TINY + ["--data_dir", str(corpus / "train"), "--ema_momentum", "0.5",
                   "--model_params", "filters=8", "num_blocks=1", "spec_augment=1"]
    reference = train.main(argv + ["--run_dir", str(tmp_path / "whole")])
    train.main(argv + ["--run_dir", str(tmp_path / "split"), "--epochs", "2"])
    resumed = train.main(["--run_dir", str(tmp_path / "split"), "--resume", "--epochs", "3"])
    assert resumed["best_val_accuracy"] == reference["best_val_accuracy"]
    _assert_same_run(tmp_path / "split", tmp_path / "whole")


def test_ema_validates_and_saves_the_averaged_weights(corpus, tmp_path):
    # momentum ~1: the average stays at the weights after the first step, far from the trained ones
    argv = TINY + ["--data_dir", str(corpus / "train"), "--epochs", "2", "--learning_rate", "0.05"]
    train.main(argv + ["--run_dir", str(tmp_path / "ema"), "--ema_momentum", "0.99999999"])
    train.main(argv + ["--run_dir", str(tmp_path / "one_step"), "--epochs", "1", "--steps_per_epoch", "1"])
    averaged, one_step = _weights(tmp_path / "ema" / "best.keras"), _weights(tmp_path / "one_step" / "best.keras")
    trainable = [i for i, w in enumerate(keras.models.load_model(tmp_path / "ema" / "best.keras").weights)
                 if w.trainable]
    for i in trainable:
        np.testing.assert_allclose(averaged[i], one_step[i], atol=1e-6)


def test_the_training_step_learns_the_runs_distillation_loss():
    """Exact: the loss the training step minimises is per_example_loss with the run's distillation settings
    (test_distillation_loss_formula checks that formula, test_input_data.py the packed targets)."""
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="softmax")])
    values = {**settings.defaults(), "label_smoothing": 0.1, "distill_temperature": 2.0, "distill_weight": 0.7}
    train_batch = train_loop.make_train_step(net, keras.optimizers.SGD(0.1), tf.distribute.get_strategy(), 4, values)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    teacher = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    y = np.concatenate([np.eye(4, dtype=np.float32)[[0, 2, 3]], teacher, np.float32([[1], [1], [0]])], axis=1)

    def loss_sum(distill_weight):
        probs = net(x, training=True)
        return float(tf.reduce_sum(train_loop.per_example_loss(tf.constant(y), probs, 4, 0.1, 2.0, distill_weight)))

    expected, without_teacher = loss_sum(0.7), loss_sum(0.0)  # before the step changes the weights
    assert abs(expected - without_teacher) > 0.01  # the teacher's part is worth checking
    assert train_batch(x, y)[0] == pytest.approx(expected, rel=1e-5)


def test_teacher_runs_give_every_training_and_pseudo_clip_the_mean_tta_probabilities(baseline, corpus, tmp_path):
    pseudo = _write(tmp_path / "pseudo" / "pseudo_labels.csv", "path,label\n" + "".join(
        f"{os.path.relpath(c, tmp_path / 'pseudo')},yes\n" for c in sorted((corpus / "test" / "audio").glob("*.wav"))))
    run = tmp_path / "student"
    train.main(TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(run), "--epochs", "1",
                       "--teacher_runs", str(baseline[0]), str(baseline[0]), "--pseudo_labels", str(pseudo)])
    table = prob_files.read_probs_csv(run / runs.TEACHER_PROBS_FILE)
    index = layout.index_folder(str(corpus / "train"))
    training = {key: path for key, path, _, split in index.clips if split == "training"}
    assert table.classes == LABELS and len(table.fnames) == len(training) + 8
    key = sorted(training)[0]
    teacher, _, _ = runs.load_run(str(baseline[0]))
    clip = audio.load_clip(training[key])[None, :]
    variants = tta.tta_variants([-1500], 1.2)  # 1,500 samples earlier, 1.2 times louder
    expected = np.mean([teacher.predict_on_batch(v.apply(clip))[0] for v in variants], axis=0)
    np.testing.assert_allclose(table.values[table.fnames.index(key)], expected, atol=1e-5)
    # pseudo-labelled clips outside their CSV's folder are keyed by their absolute path
    assert {os.path.normpath(c) for c in (corpus / "test" / "audio").glob("*.wav")} <= set(table.fnames)


def test_an_online_teacher_trains_without_a_probability_file(baseline, corpus, tmp_path):
    run = tmp_path / "online"
    metrics = train.main(TINY + ["--data_dir", str(corpus / "train"), "--run_dir", str(run), "--epochs", "1",
                                 "--teacher_runs", str(baseline[0]), "--teacher_online"])
    assert metrics["epochs_trained"] == 1 and not (run / runs.TEACHER_PROBS_FILE).exists()
    assert runs.read_json(run / "config.json")["data"]["teacher_online"] is True
