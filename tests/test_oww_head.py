"""benchmarks/oww_head.py: openWakeWord embedding shapes and alignment, the head's determinism and
fit, per-hop stream probabilities. Skipped without the pyopen-wakeword wheel."""

import os
import sys

import numpy as np
import pytest

pytest.importorskip("pyopen_wakeword", reason="pyopen-wakeword is not installed "
                    "(.venv/bin/pip install pyopen-wakeword): no openWakeWord feature models to test")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import oww_head  # noqa: E402  (after the path set-up)

RATE = oww_head.SAMPLE_RATE
HEAD_EPOCHS = 10  # 30 steps of 8 clips: the held-out tones and noise are told apart (each epoch costs ~0.1 s)


def tone_clip(rng, seconds=1.0):
    """A tone of a random frequency between 400 and 800 Hz in light noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * rng.uniform(400, 800) * t)
    return (tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def noise_clip(rng, seconds=1.0):
    return (0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


@pytest.fixture(scope="module")
def front_end():
    return oww_head.EmbeddingFrontEnd(num_threads=1)


@pytest.fixture(scope="module")
def tones_and_noise(front_end):
    """(embeddings [24, 16, 96], labels [24]): 12 tones (class 0) and 12 noise clips (class 1)."""
    rng = np.random.default_rng(0)
    clips = [tone_clip(rng) for _ in range(12)] + [noise_clip(rng) for _ in range(12)]
    return front_end.embed_clips(clips), np.repeat([0, 1], 12)


@pytest.fixture(scope="module")
def head(tones_and_noise):
    return oww_head.train_head(*tones_and_noise, num_classes=2, seed=0, epochs=HEAD_EPOCHS, batch_size=8)


def test_available_and_licence_note():
    assert oww_head.available()
    note = oww_head.licence_note()
    for name in oww_head.FEATURE_MODELS + ("Apache-2.0", "CC BY-NC-SA"):
        assert name in note


def test_absent_package_is_reported(monkeypatch):
    monkeypatch.setattr(oww_head, "models_dir", lambda: None)
    assert not oww_head.available()
    with pytest.raises(RuntimeError, match="pip install pyopen-wakeword"):
        oww_head.EmbeddingFrontEnd()


def test_clip_and_stream_embedding_shapes(front_end):
    rng = np.random.default_rng(1)
    assert front_end.clip_embeddings(noise_clip(rng)).shape == (oww_head.WINDOW_EMBEDDINGS, oww_head.EMBEDDING_DIM)
    stream = noise_clip(rng, seconds=3.0)
    # one embedding per 80 ms once the first 782 ms are in: (48000 - 12512) // 1280 + 1
    assert front_end.stream_embeddings(stream).shape == (28, oww_head.EMBEDDING_DIM)
    assert oww_head.embedding_count(len(stream)) == 28


def test_clip_embeddings_are_the_stream_window_that_ends_with_the_clip(front_end):
    rng = np.random.default_rng(2)
    clip = tone_clip(rng)
    padded = np.concatenate([np.zeros(front_end.window_samples - len(clip), np.float32), clip])
    np.testing.assert_allclose(front_end.stream_embeddings(padded), front_end.clip_embeddings(clip), atol=1e-5)
    np.testing.assert_allclose(front_end.embed_clips([clip, clip])[1], front_end.clip_embeddings(clip), atol=1e-5)


def test_train_head_is_deterministic_for_a_seed(tones_and_noise, head):
    again = oww_head.train_head(*tones_and_noise, num_classes=2, seed=0, epochs=HEAD_EPOCHS, batch_size=8)
    for a, b in zip(head.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_head_separates_tones_from_noise(front_end, head):
    rng = np.random.default_rng(4)
    held_out = front_end.embed_clips([tone_clip(rng) for _ in range(4)] + [noise_clip(rng) for _ in range(4)])
    probs = head.predict(held_out, verbose=0)
    assert probs.shape == (8, 2)
    np.testing.assert_array_equal(probs.argmax(axis=1), np.repeat([0, 1], 4))


def test_class_weights_balance_the_classes():
    weights = oww_head.class_weights([0, 0, 0, 1], 3)
    assert weights[0] * 3 == pytest.approx(weights[1] * 1) and weights[2] == 1.0


@pytest.mark.parametrize("hop_samples, tail_samples, hops", [(1280, 0, 38), (1600, 0, 30), (1600, 8000, 35)])
def test_stream_probabilities_one_row_per_hop(front_end, head, hop_samples, tail_samples, hops):
    stream = noise_clip(np.random.default_rng(5), seconds=3.0)  # 48000 samples
    probs, hop_ms = oww_head.stream_probabilities(front_end, head, stream, hop_samples, tail_samples)
    assert probs.shape == (hops, 2) and hop_ms == hop_samples * 1000 / RATE
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_stream_window_at_a_clip_end_is_the_clip(front_end, head):
    rng = np.random.default_rng(6)
    stream = noise_clip(rng, seconds=4.0)
    end = 40 * oww_head.EMBEDDING_HOP_SAMPLES  # the end of hop 39
    stream[end - RATE:end] = tone_clip(rng)
    probs, _ = oww_head.stream_probabilities(front_end, head, stream)
    expected = head.predict(front_end.clip_embeddings(stream[:end])[None], verbose=0)[0]
    np.testing.assert_allclose(probs[39], expected, atol=1e-5)
    assert probs[39].argmax() == 0  # the tone, heard in the stream


def test_measure_speed_reports_positive_times(front_end, head):
    figures = oww_head.measure_speed(front_end, head, repeats=2)
    assert set(figures) == {"clip_ms", "hop_ms", "head_ms", "real_time_factor"}
    assert all(value > 0 for value in figures.values())
