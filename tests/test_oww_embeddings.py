"""oww_embeddings.py: openWakeWord embedding shapes and alignment, the head's determinism and fit,
per-hop stream probabilities offline and live, the exported head in the Pi script, the stream models
and make_spotter. Skipped without the pyopen-wakeword wheel."""

import numpy as np
import pytest

pytest.importorskip("pyopen_wakeword", reason="pyopen-wakeword is not installed "
                    "(.venv/bin/pip install pyopen-wakeword): no openWakeWord feature models to test")

from kws.stream import make_spotter  # noqa: E402  (after the skip)
from kws.models import oww_embeddings as oww  # noqa: E402
from kws.export import runtime  # noqa: E402
from kws.stream import stream_models  # noqa: E402

RATE = oww.SAMPLE_RATE
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
    return oww.EmbeddingFrontEnd(num_threads=1)


@pytest.fixture(scope="module")
def tones_and_noise(front_end):
    """(embeddings [24, 16, 96], labels [24]): 12 tones (class 0) and 12 noise clips (class 1)."""
    rng = np.random.default_rng(0)
    clips = [tone_clip(rng) for _ in range(12)] + [noise_clip(rng) for _ in range(12)]
    return front_end.embed_clips(clips), np.repeat([0, 1], 12)


@pytest.fixture(scope="module")
def head(tones_and_noise):
    return oww.train_head(*tones_and_noise, num_classes=2, seed=0, epochs=HEAD_EPOCHS, batch_size=8)


def test_available_and_licence_note():
    assert oww.available()
    note = oww.licence_note()
    for name in oww.FEATURE_MODELS + ("Apache-2.0", "CC BY-NC-SA"):
        assert name in note


def test_absent_package_is_reported(monkeypatch):
    monkeypatch.setattr(oww, "models_dir", lambda: None)
    assert not oww.available()
    with pytest.raises(RuntimeError, match="pip install pyopen-wakeword"):
        oww.EmbeddingFrontEnd()


def test_clip_embedding_shapes_and_counts(front_end):
    rng = np.random.default_rng(1)
    clip = noise_clip(rng)
    assert front_end.clip_embeddings(clip).shape == (oww.WINDOW_EMBEDDINGS, oww.EMBEDDING_DIM)
    np.testing.assert_allclose(front_end.embed_clips([tone_clip(rng), clip])[1], front_end.clip_embeddings(clip),
                               atol=1e-5)
    # one embedding per 80 ms once the first 782 ms are in: (48000 - 12512) // 1280 + 1
    assert oww.embedding_count(48000) == 28 and oww.embedding_count(12511) == 0


def test_train_head_is_deterministic_for_a_seed(tones_and_noise, head):
    again = oww.train_head(*tones_and_noise, num_classes=2, seed=0, epochs=HEAD_EPOCHS, batch_size=8)
    for a, b in zip(head.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_head_separates_tones_from_noise(front_end, head):
    rng = np.random.default_rng(4)
    held_out = front_end.embed_clips([tone_clip(rng) for _ in range(4)] + [noise_clip(rng) for _ in range(4)])
    probs = head.predict(held_out, verbose=0)
    assert probs.shape == (8, 2)
    np.testing.assert_array_equal(probs.argmax(axis=1), np.repeat([0, 1], 4))


def test_a_head_follows_the_sample_weights(front_end, tones_and_noise):
    # both classes hold every tone and every noise clip: the weights alone say which is whose
    x, labels = tones_and_noise
    both = np.concatenate([x, x])
    weights = np.where(np.concatenate([labels, 1 - labels]) == 0, 1.0, 1e-3)  # class 0: tones, class 1: noise
    head = oww.train_head(both, np.repeat([0, 1], len(x)), 2, 0, epochs=HEAD_EPOCHS, batch_size=8,
                          sample_weights=weights)
    rng = np.random.default_rng(14)
    probs = head.predict(front_end.embed_clips([tone_clip(rng), tone_clip(rng), noise_clip(rng), noise_clip(rng)]),
                         verbose=0)
    np.testing.assert_array_equal(probs.argmax(axis=1), [0, 0, 1, 1])
    assert probs.max(axis=1).min() > 0.8


def test_weights_balance_the_classes_and_keep_the_proportions_inside_one():
    np.testing.assert_allclose(oww.balanced_weights([0, 0, 0, 1], 3), [2 / 3, 2 / 3, 2 / 3, 2])
    # two of class 0 weigh 3:1 inside it; the class still totals what class 1 does
    np.testing.assert_allclose(oww.balanced_weights([0, 0, 1], 2, [3.0, 1.0, 5.0]), [1.125, 0.375, 1.5])


@pytest.mark.parametrize("hop_samples, tail_samples, hops", [(1280, 0, 38), (1600, 0, 30), (1600, 8000, 35)])
def test_stream_probabilities_one_row_per_hop(front_end, head, hop_samples, tail_samples, hops):
    stream = noise_clip(np.random.default_rng(5), seconds=3.0)  # 48000 samples
    probs, hop_ms = oww.stream_probabilities(front_end, head, stream, hop_samples, tail_samples)
    assert probs.shape == (hops, 2) and hop_ms == hop_samples * 1000 / RATE
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_stream_window_at_a_clip_end_is_the_clip(front_end, head):
    rng = np.random.default_rng(6)
    stream = noise_clip(rng, seconds=4.0)
    end = 40 * oww.EMBEDDING_HOP_SAMPLES  # the end of hop 39
    stream[end - RATE:end] = tone_clip(rng)
    probs, _ = oww.stream_probabilities(front_end, head, stream)
    expected = head.predict(front_end.clip_embeddings(stream[:end])[None], verbose=0)[0]
    np.testing.assert_allclose(probs[39], expected, atol=1e-5)
    assert probs[39].argmax() == 0  # the tone, heard in the stream


@pytest.fixture(scope="module")
def exported(head, tmp_path_factory):
    """The head exported as oww_embeddings.export_head writes it: {"model", "labels", "marker"} paths."""
    return oww.export_head(head, ["tone", "noise"], str(tmp_path_factory.mktemp("head") / "head"))


def test_exported_head_gives_the_keras_probabilities(front_end, head, exported):
    assert oww.read_marker(exported["model"])["window_embeddings"] == oww.WINDOW_EMBEDDINGS
    x = front_end.embed_clips([tone_clip(np.random.default_rng(7)), noise_clip(np.random.default_rng(8))])
    tflite = oww.load_head(exported["model"])
    np.testing.assert_allclose(np.stack([tflite(row[None]) for row in x]), head.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("hop_samples", [1280, 1600, 700])
def test_live_stream_gives_the_offline_probabilities(front_end, head, exported, hop_samples):
    stream = noise_clip(np.random.default_rng(9), seconds=3.0)
    stream[16000:32000] = tone_clip(np.random.default_rng(10))
    offline, _ = oww.stream_probabilities(front_end, head, stream, hop_samples)
    live = oww.EmbeddingStream(front_end, oww.load_head(exported["model"]))
    pushed = [live.push(stream[i:i + hop_samples]) for i in range(0, len(stream) - hop_samples + 1, hop_samples)]
    np.testing.assert_allclose(np.array(pushed), offline[:len(pushed)], atol=1e-4)
    assert offline[:, 0].max() > 0.5 > offline[:, 0].min()  # the tone is heard: not a comparison of constants


def test_stream_windows_are_what_the_head_sees_live_at_each_hop(front_end, head):
    stream = noise_clip(np.random.default_rng(12), seconds=2.0)
    stream[8000:24000] = tone_clip(np.random.default_rng(13))
    windows = oww.stream_windows(front_end, stream)
    hops = len(stream) // oww.EMBEDDING_HOP_SAMPLES  # 25: the last partial hop is not a window
    assert windows.shape == (hops, oww.WINDOW_EMBEDDINGS, oww.EMBEDDING_DIM)
    live, _ = oww.stream_probabilities(front_end, head, stream)
    np.testing.assert_allclose(head.predict(windows, verbose=0), live[:hops], atol=1e-5)
    np.testing.assert_array_equal(oww.stream_windows(front_end, stream, every=2), windows[::2])


def test_pi_script_and_stream_models_run_the_head(front_end, head, exported, tmp_path):
    clip = tone_clip(np.random.default_rng(11))
    model = runtime.load_model(exported["model"], num_threads=1)
    assert isinstance(model, runtime.EmbeddingHeadModel) and model.num_classes == 2
    probs, _ = model.predict(clip, None, False)
    np.testing.assert_allclose(probs, head.predict(front_end.clip_embeddings(clip)[None], verbose=0)[0], atol=1e-5)
    streamed = stream_models.load_stream_model(exported["model"], hop_samples=1280)
    assert streamed.labels == ["tone", "noise"] and isinstance(streamed.stream, oww.EmbeddingStream)
    name, labels = make_spotter.copy_model(exported["model"], str(tmp_path))
    assert runtime.is_embedding_head(str(tmp_path / name)) and labels == "spotter_labels.txt"
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(open(exported["model"], "rb").read())
    (tmp_path / "broken_embeddings.json").write_text("{}")
    with pytest.raises(runtime.InputError, match="broken_embeddings.json: not a marker"):
        runtime.load_model(str(broken), num_threads=1)
