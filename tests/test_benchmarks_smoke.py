"""Every script of benchmarks/ and demo.py, run on tiny arguments: a benchmark that no longer runs is
found by CI, not by the next person who needs its figures. Figures are not asserted here (they
belong to the benchmarks); each run must finish and return or print its table. A tiny synthetic
corpus (conftest's synth_corpus) stands in for the real data (benchmarks/pi_real_speech.py has its own
test)."""

import os
import subprocess
import time

import pytest

from kws.training import train
from conftest import load_benchmark, run_script
from test_freeze_graph import frozen_tiny_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
(bench_input_data, bench_models_speed, bench_recipes, bench_rpi, bench_submission, bench_synthetic_dataset, int8_export,
 mutation_check, real_speech, int8_zoo) = map(load_benchmark, (
    "bench_input_data", "bench_models_speed", "bench_recipes", "bench_rpi", "bench_submission",
    "bench_synthetic_dataset", "int8_export", "mutation_check", "real_speech", "int8_zoo"))
streaming_benchmark = load_benchmark("streaming")

ONE_EPOCH = ["--epochs", "1", "--steps_per_epoch", "2", "--batch_size", "16", "--max_minutes", "0"]
TINY_DEMO = """
[data]
data_dir = ["unused"]
[model]
model = "ds_cnn"
batch_norm_momentum = 0.9
[model_params]
filters = 8
num_blocks = 1
[train]
epochs = 2
steps_per_epoch = 3
batch_size = 16
"""


@pytest.fixture(scope="module")
def run_dir(synth_corpus, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("smoke_run") / "run")
    train.main(["--data_dir", str(synth_corpus / "train"), "--run_dir", run, "--model", "ds_cnn", "--model_params",
                "filters=8", "num_blocks=1", *ONE_EPOCH])
    return run


def test_bench_input_data(capsys):
    bench_input_data.main(["--clips", "120", "--passes", "1", "--baseline_samples", "60", "--batch_size", "20"])
    assert "validation" in capsys.readouterr().out


def test_bench_models_speed(capsys):
    bench_models_speed.main(["--models", "ds_cnn", "--baseline", "ds_cnn", "--steps", "2", "--warmup_steps", "1",
                             "--batch_size", "4"])
    assert "ds_cnn" in capsys.readouterr().out


def test_bench_recipes(synth_corpus, capsys, monkeypatch):
    run = subprocess.run

    def train_in_process(command, **kwargs):  # its `python train.py ...` here: no TensorFlow start-up
        if os.path.basename(command[1]) != "train.py":
            return run(command, **kwargs)
        run_script("train.py", command[2:])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", train_in_process)
    bench_recipes.main(["--budget_minutes", "0.001", "--recipes", "ds_cnn", "--baseline", "ds_cnn",  # one step
                        "--steps_per_epoch", "1", "--batch_size", "8", "--synth_dir", str(synth_corpus / "train"),
                        "--real_dir", str(synth_corpus / "train"), "--test_dir", str(synth_corpus / "test")])
    assert "ds_cnn" in capsys.readouterr().out


def test_bench_rpi(capsys):
    bench_rpi.main(["--width", "0.25", "--clips", "10", "--runs", "3"])
    assert "int8" in capsys.readouterr().out


def test_bench_submission(capsys):
    bench_submission.main(["--clips", "40", "--batch_size", "16", "--model", "ds_cnn", "--repeats", "1"])
    assert "clips/s" in capsys.readouterr().out


def test_bench_synthetic_dataset(capsys):
    bench_synthetic_dataset.main(["--speakers", "2", "--test_clips", "10", "--repeats", "1", "--workers", "2",
                                  "--words", "yes,no,cat"])
    assert "clips/s" in capsys.readouterr().out


def test_real_speech(synth_corpus, tmp_path, capsys, scripts_in_process):
    report = real_speech.main(["--run_dir", str(tmp_path / "rs"), "--seeds", "0", "--synth_dir", str(synth_corpus),
                               "--real_train", str(synth_corpus / "train"), "--real_test", str(synth_corpus / "test"),
                               "--only", "real_only", "--train_args", *ONE_EPOCH])
    assert set(report["runs"]) == {"real_only"}
    assert "vs real_only" in capsys.readouterr().out


def test_int8_zoo(synth_corpus, tmp_path, capsys, scripts_in_process):
    report = int8_zoo.main(["--run_dir", str(tmp_path / "zoo"), "--models", "ds_cnn", "--check_clips", "20",
                            "--real_train", str(synth_corpus / "train"), "--train_args", *ONE_EPOCH])
    assert set(report["models"]) == {"ds_cnn"} and "dynamic" in capsys.readouterr().out


def test_int8_export(run_dir, tmp_path_factory, capsys):
    pi_run, _ = frozen_tiny_model(tmp_path_factory)  # a tiny `pi`: a waveform layer to keep float
    report = int8_export.main(["--runs", run_dir, pi_run, "--check_clips", "20", "--calibration_clips", "16"])
    assert set(report[run_dir]) == {"clips", "plain", "bias"}  # a log-mel model has no waveform layer
    assert set(report[pi_run]) == {"clips", *int8_export.VARIANTS}
    assert "ratio to plain" in capsys.readouterr().out


def test_streaming(synth_corpus, run_dir, tmp_path, capsys):
    report = streaming_benchmark.main([
        "--run_dir", run_dir, "--baseline_run", run_dir, "--work_dir", str(tmp_path / "stream"),
        "--real", str(synth_corpus / "train"), "--noise", str(synth_corpus / "train" / "audio" / "_background_noise_"),
        "--mixed_minutes", "0.5", "--negatives_minutes", "0.5", "--talk_speakers", "1", "1", "--speed_minutes", "0.1"])
    out = capsys.readouterr().out
    assert "false alarms" in out and "as shipped (validation)" in out
    assert set(report["results"]["spotter (R/spotter)"]["calibrated"]) == {"0.5", "1", "2", "5"}
    assert os.path.isfile(os.path.join(run_dir, "spotter", "spotter.json"))
    assert os.path.isfile(tmp_path / "stream" / "curve.png")
    assert all(info["clips_used_more_than_once"] == 0 for info in report["streams"].values())


def test_mutation_check_lists_and_runs_one_mutation(capsys):
    mutation_check.main(["--list"])
    assert "render ignores the volume gain" in capsys.readouterr().out
    mutation = "numpy resampling is off by one input sample"  # its tests import no TensorFlow: seconds
    assert mutation_check.main(["--only", mutation]) == {mutation: "killed"}


def test_demo_runs_every_stage_in_a_work_folder(synth_corpus, tmp_path, capsys, monkeypatch):
    from kws import demo

    # Each stage in a new Python, as `make demo` runs them, but for the three that import TensorFlow (seconds
    # of CPU per start): those run in this process, in the project folder all the same.
    stage, in_process = demo.run_stage, ("train.py", "make_submission.py", "freeze_graph.py")

    def run_stage(title, script, args, capture=False):
        if script not in in_process:
            return stage(title, script, args, capture)
        started = time.perf_counter()
        return run_script(script, args, capture), time.perf_counter() - started

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(demo, "run_stage", run_stage)
    experiment = tmp_path / "001_tiny_demo.toml"
    experiment.write_text(TINY_DEMO)
    summary = demo.main(["--data_dir", str(synth_corpus), "--experiment", str(experiment), "--work_dir", str(tmp_path)])
    assert set(summary["accuracy"]) == {"submission (Keras, TTA)", "Pi submission (int8 TFLite)"}
    assert summary["int8_agreement"] >= 0.97 and (tmp_path / "tf_files" / "001_tiny_demo_int8.tflite").is_file()
    assert "int8 agreement with Keras" in capsys.readouterr().out
    assert not os.path.exists(os.path.join(ROOT, "runs", "001_tiny_demo"))  # nothing outside the work folder
