"""Shared test fixtures: the project root on sys.path, quiet TensorFlow, the shared real data."""

import os
import signal
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The Ctrl-C tests send SIGINT to a script they start. A job that a non-interactive shell puts in the
# background (a CI runner, `make test &`, nohup) starts with SIGINT ignored, and children inherit an
# ignored signal: the script would never see the Ctrl-C. A Python handler here is not inherited, so
# every child starts with the default disposition, as under a user's terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
