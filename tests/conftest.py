"""Shared test fixtures: quiet TensorFlow, the shared real data, the tone
corpus and the tiny models trained on it (once per test process, shared by its test files: each
pytest-xdist worker of `make test` makes its own), a tiny synthetic corpus, and the project's scripts
run in-process (run_script) for the benchmarks' tests."""

import contextlib
import importlib
import importlib.util
import io
import os
import re
import signal
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The Ctrl-C tests send SIGINT to a script they start. A job that a non-interactive shell puts in the
# background (a CI runner, `make test &`, nohup) starts with SIGINT ignored, and children inherit an
# ignored signal: the script would never see the Ctrl-C. A Python handler here is not inherited, so
# every child starts with the default disposition, as under a user's terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

BENCHMARKS = os.path.join(ROOT, "benchmarks")
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")
REAL_TRAIN = os.path.join(SHARED_DATA, "speech_commands_real")
REAL_TEST = os.path.join(SHARED_DATA, "speech_commands_real_test")


@pytest.fixture
def real_train_dir():
    """../shared/data/speech_commands_real, or a skip saying why."""
    if not os.path.isdir(REAL_TRAIN):
        pytest.skip(f"shared real data not found at {REAL_TRAIN} (only present on the team's machines)")
    return REAL_TRAIN


@pytest.fixture
def real_test_dir():
    """../shared/data/speech_commands_real_test, or a skip saying why."""
    if not os.path.isdir(REAL_TEST):
        pytest.skip(f"shared real test data not found at {REAL_TEST} (only present on the team's machines)")
    return REAL_TEST


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory):
    """A tiny corpus of make_synthetic_dataset.py (train/ with list files and noise, test/audio and
    solution.csv) of every Kaggle command word and one other word, 16 speakers, written once per test
    run: the stand-in for the real data in the benchmarks' tests. Read only."""
    from kws.data import make_synthetic_dataset

    out = tmp_path_factory.mktemp("synth") / "synth"
    make_synthetic_dataset.main(["--out", str(out), "--speakers", "16", "--words",
                                 "yes,no,up,down,left,right,on,off,stop,go,cat", "--test_clips", "24",
                                 "--noise_duration_s", "3", "--workers", "2", "--seed", "2"])
    return out


# The tiny models of the tone corpus, trained once per test run: 20 epochs of ~6 batches. lr 0.01 leaves
# every clip's top two probabilities >= 0.1 apart (measured), far beyond what int8 rounding moves them.
TONE_TRAINING = ["--epochs", "20", "--batch_size", "32", "--loader_threads", "1", "--seed", "0",
                 "--batch_norm_momentum", "0.9", "--learning_rate", "0.01", "--lr_schedule", "cosine",
                 "--unknown_percentage", "30"]
TONE_MODELS = {  # a raw-waveform (mu-law), a log-mel and an MFCC front end: test_int8.py exports each
    "raw": ["--model", "pi", "--model_params", "width=0.25"],  # mu-law companded input (the default)
    "logmel": ["--model", "ds_cnn", "--model_params", "filters=32", "num_blocks=2", 'features="logmel"'],
    # also test_spot_keywords.py's spotter: trained on stream windows too (stream_augment.py), without
    # which its scores in a stream stay below 0.5 (tone bursts anywhere in the window, louder noise)
    "mfcc": ["--model", "ds_cnn", "--model_params", "filters=32", "num_blocks=2", 'features="mfcc"',
             "--stream_probability", "0.5", "--stream_snr_db", "15", "35"],
}


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory):
    """(training folder, test folder, noise folder) of the tone words of test_make_streaming_test.py
    (make_tone_corpus, make_tone_test_folder), written once per test run. Read only."""
    from kws.data import labels
    from test_make_streaming_test import make_tone_corpus, make_tone_test_folder

    root = tmp_path_factory.mktemp("tones")
    train_dir = make_tone_corpus(str(root / "train"))
    return train_dir, make_tone_test_folder(str(root / "test")), os.path.join(train_dir, labels.BACKGROUND_NOISE_DIR)


@pytest.fixture(scope="session")
def tone_run(tone_corpus, tmp_path_factory):
    """name of TONE_MODELS -> (run folder, metrics) of that tiny model trained on the tone corpus's four
    command words, trained on first use and once per test run. Read only (export into your own folder)."""
    from kws.training import train
    from test_make_streaming_test import COMMANDS

    trained = {}

    def get(name):
        if name not in trained:
            run_dir = str(tmp_path_factory.mktemp("tone_runs") / name)
            flags = ["--wanted_words", *COMMANDS, "--data_dir", tone_corpus[0], "--run_dir", run_dir]
            trained[name] = run_dir, train.main(TONE_TRAINING + TONE_MODELS[name] + flags)
        return trained[name]
    return get


def script_module(script):
    """The kws module whose main() a top-level script runs (its `from kws.... import main`)."""
    with open(os.path.join(ROOT, script), encoding="utf-8") as f:
        return importlib.import_module(re.search(r"^from (kws[.\w]*) import main$", f.read(), re.M).group(1))


def load_benchmark(name):
    """benchmarks/<name>.py as the module `name` (as `python benchmarks/<name>.py` imports its
    neighbours: pi_real_speech.py's `import real_speech` finds it once loaded here)."""
    if name not in sys.modules:
        path = os.path.join(BENCHMARKS, name + ".py")
        with open(path, encoding="utf-8") as f:
            for neighbour in re.findall(r"^import (\w+)", f.read(), re.M):
                if os.path.exists(os.path.join(BENCHMARKS, neighbour + ".py")):
                    load_benchmark(neighbour)
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def run_script(script, args, capture=False):
    """`python script args` as its `main(args)` in this process (its standard output with `capture`): a
    fresh Python that imports TensorFlow costs seconds of CPU. A failing script raises."""
    module = script_module(script)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout) if capture else contextlib.nullcontext():
        module.main([str(arg) for arg in args])
    return stdout.getvalue() if capture else None


@pytest.fixture
def scripts_in_process(monkeypatch):
    """The benchmarks' `real_speech.python` (one project script per step) runs the script in-process
    (run_script), in the project folder as before: what a benchmark's test checks is the benchmark's own
    logic (its steps, reuse and report), not ~20 TensorFlow start-ups."""
    real_speech = load_benchmark("real_speech")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(real_speech, "python", lambda script, *args, capture=False: run_script(script, args, capture))
