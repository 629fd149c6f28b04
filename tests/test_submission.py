"""make_submission.py on a tiny run folder and ~30 tiny wavs: outputs, unreadable clips, TTA averaging."""

import numpy as np
import pandas as pd
import pytest

from kws.data import audio
from kws.data import corpus
from kws.data import labels
from kws.submit import make_submission
from kws.submit import probs
from kws import runs
from kws.data import samples
from kws.submit import tta

RUN_LABELS = labels.model_labels([*labels.COMMAND_WORDS, "cat", "dog"])  # 14: the sum rule matters
NUM_CLIPS = 30
BROKEN = {"clip_broken.wav": b"RIFF\x10\x00\x00\x00WAVEjunk", "clip_empty.wav": b""}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with an untrained (seeded) tiny model, as COMMON.md shows.

    Not `pi`: untrained, its batch norms shrink the signal block after block, so its output does
    not depend on the input and TTA could not be checked; a log-mel model's output does.
    """
    import keras

    from kws.models import model

    run = tmp_path_factory.mktemp("runs") / "tiny"
    run.mkdir()
    keras.utils.set_random_seed(0)
    params = {"filters": 8, "fc_units": 8, "num_mel_bins": 20}
    built = model.build_model("low_latency_conv", len(RUN_LABELS), **params)
    built.save(run / runs.BEST_CHECKPOINT)
    labels.write_labels(run / runs.LABELS_FILE, RUN_LABELS)
    runs.write_json(run / runs.CONFIG_FILE, {"name": "tiny", "seed": 0, "labels": RUN_LABELS,
                                             "model": {"name": "low_latency_conv", "params": params}})
    return str(run)


@pytest.fixture(scope="module")
def test_dir(tmp_path_factory):
    """30 readable clips of varied length and level, two unreadable ones, a sub-folder and a non-wav."""
    folder = tmp_path_factory.mktemp("test") / "audio"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(NUM_CLIPS):
        samples = rng.uniform(-1, 1, rng.integers(4000, 20000)) * rng.uniform(0.05, 0.9)
        audio.write_wav(folder / f"clip_{i:04x}.wav", samples.astype(np.float32))
    for name, data in BROKEN.items():
        (folder / name).write_bytes(data)
    (folder / "nested").mkdir()
    audio.write_wav(folder / "nested" / "ignored.wav", np.zeros(100, np.float32))
    (folder / "notes.txt").write_text("not a clip")
    return str(folder)


def manual_probs(run_dir, test_dir, fnames, transforms):
    """The model's probabilities averaged over `transforms` of each clip (zeros for broken files)."""
    keras_model, _, _ = runs.load_run(run_dir)
    clips = np.stack([audio.load_clip(f"{test_dir}/{f}") if f not in BROKEN else np.zeros(16000, np.float32)
                      for f in fnames])
    return np.mean([keras_model.predict_on_batch(np.stack([t(c) for c in clips])) for t in transforms], axis=0)


def test_outputs_one_row_per_wav_and_unreadable_clips(run_dir, test_dir, tmp_path, capsys):
    out = tmp_path / "subs" / "tiny.csv"
    result = make_submission.main(["--run_dir", run_dir, "--test_dir", test_dir, "--out", str(out),
                                   "--batch_size", "10", "--no_progress"])  # last batch: 2 clips, padded
    text = capsys.readouterr().out
    assert "unreadable clips: 2 (predicted as all-zero clips)" in text
    assert "clip_empty.wav: empty file" in text
    assert sorted(name for name, _ in result["unreadable"]) == sorted(BROKEN)

    expected_fnames = sorted([f"clip_{i:04x}.wav" for i in range(NUM_CLIPS)] + list(BROKEN))
    submission = pd.read_csv(out)
    assert submission["fname"].tolist() == expected_fnames  # one row per wav, sorted, nothing else
    assert set(submission["label"]) <= set(labels.KAGGLE_LABELS)
    table = probs.read_probs(tmp_path / "subs" / "tiny_probs.csv")
    assert table.classes == RUN_LABELS and table.fnames == expected_fnames
    np.testing.assert_allclose(table.values.sum(axis=1), 1.0, atol=1e-5)
    all_labels = pd.read_csv(tmp_path / "subs" / "tiny_all_labels.csv")
    assert all_labels["label"].tolist() == table.argmax_labels()
    assert submission["label"].tolist() == probs.kaggle_predictions(table)  # the documented sum rule

    np.testing.assert_allclose(table.values, manual_probs(run_dir, test_dir, expected_fnames, [lambda c: c]),
                               atol=1e-5)


def test_tta_is_the_mean_over_shifted_and_louder_clips(run_dir, test_dir, tmp_path):
    out = tmp_path / "tta.csv"
    make_submission.main(["--run_dir", run_dir, "--test_dir", test_dir, "--out", str(out), "--batch_size", "16",
                          "--tta_shift_samples", "1500", "-3000", "--tta_louder", "--no_progress"])
    table = probs.read_probs(tmp_path / "tta_probs.csv")

    def shift(clip, n):
        return np.concatenate([clip[n:], np.zeros(n, np.float32)]) if n > 0 else \
            np.concatenate([np.zeros(-n, np.float32), clip[:n]])

    transforms = [lambda c: c, lambda c: shift(c, 1500), lambda c: shift(c, -3000),
                  lambda c: np.clip(c * 1.2, -1, 1)]
    expected = manual_probs(run_dir, test_dir, table.fnames, transforms)
    np.testing.assert_allclose(table.values, expected, atol=1e-5)
    plain = manual_probs(run_dir, test_dir, table.fnames, transforms[:1])
    assert np.abs(expected - plain).max() > 1e-4  # the variants really changed the input


def test_tta_stretch_and_limit(run_dir, test_dir, tmp_path):
    import librosa

    make_submission.main(["--run_dir", run_dir, "--test_dir", test_dir, "--out", str(tmp_path / "s.csv"),
                          "--tta_stretch", "0.9", "--tta_louder", "1.5", "--limit", "5", "--no_progress"])
    table = probs.read_probs(tmp_path / "s_probs.csv")
    assert len(table.fnames) == 5
    transforms = [lambda c: c, lambda c: np.clip(c * 1.5, -1, 1),
                  lambda c: audio.fit_clip(librosa.effects.time_stretch(c, rate=0.9))]
    np.testing.assert_allclose(table.values, manual_probs(run_dir, test_dir, table.fnames, transforms), atol=1e-5)


def test_shift_clip_and_bad_input(tmp_path):
    clip = np.arange(1, 6, dtype=np.float32)
    assert tta.shift_clip(clip, -2).tolist() == [3, 4, 5, 0, 0]  # earlier (left): the flag's 2
    assert tta.shift_clip(clip, 2).tolist() == [0, 0, 1, 2, 3]  # later (right)
    assert tta.shift_clip(clip, 7).tolist() == [0] * 5
    assert tta.shift_clip(clip, -7).tolist() == [0] * 5
    with pytest.raises(ValueError, match="no .wav files"):
        corpus.list_test_wavs(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such test folder"):
        corpus.list_test_wavs(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="must be > 0"):
        tta.tta_variants(louder=0)


def test_training_places_clips_with_the_time_shift_of_tta():
    """One sign convention: samples.place_clip (training's time shift) is tta.shift_clip, > 0 later."""
    clip = np.arange(1, 9, dtype=np.int16)
    for shift in (-8, -3, 0, 3, 8):
        out = np.zeros(8, np.float32)  # a row of render's batch
        samples.place_clip(out, clip, shift, 1.0, circular=False)
        assert out.tolist() == tta.shift_clip(clip.astype(np.float32), shift).tolist()
    out = np.zeros(8, np.float32)
    samples.place_clip(out, clip, 3, 1.0, circular=False)
    assert out.tolist() == [0, 0, 0, 1, 2, 3, 4, 5]  # later: zeros enter at the start
    assert [(v.kind, v.amount) for v in tta.leftloud_variants()] == [("original", 0.0), ("shift", -1500),
                                                                      ("louder", 1.2)]
