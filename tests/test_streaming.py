"""streaming.py: the decision rule, its replay from a score trace, the cached feature window, audio sources."""

import io
import struct

import numpy as np
import pytest

from kws.data import audio
from kws.stream import streaming

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def one_hot(label, score=0.9):
    probs = np.full(len(LABELS), (1 - score) / (len(LABELS) - 1), np.float32)
    probs[LABELS.index(label)] = score
    return probs


def run(detector, labels_by_hop, hop_s=0.1, scores=None):
    found = []
    for i, label in enumerate(labels_by_hop):
        result = detector.update((i + 1) * hop_s, one_hot(label, 0.9 if scores is None else scores[i]))
        if result:
            found.append(((i + 1) * hop_s, *result))
    return found


def test_a_word_held_over_several_hops_is_one_detection_and_non_keywords_never_are():
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds=0.5, refractory_s=0.0)
    found = run(detector, ["_silence_", "yes", "yes", "yes", "_unknown_", "_silence_", "yes", "yes"])
    assert [(round(t, 1), label) for t, label, _ in found] == [(0.2, "yes"), (0.7, "yes")]


def test_refractory_time_suppresses_other_keywords_until_it_has_passed():
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds=0.5, refractory_s=0.5)
    found = run(detector, ["yes", "no", "no", "no", "no", "no", "no", "_silence_"])
    assert [(round(t, 1), label) for t, label, _ in found] == [(0.1, "yes"), (0.6, "no")]


def test_smoothing_averages_the_last_hops_before_the_threshold():
    detector = streaming.Detector(LABELS, smooth_hops=3, thresholds=0.65, refractory_s=1.0)
    # one or two confident hops among silence do not reach 0.65 averaged over three hops; three do
    found = run(detector, ["_silence_", "yes", "_silence_", "_silence_", "yes", "yes", "yes"])
    assert [(round(t, 1), label) for t, label, _ in found] == [(0.7, "yes")]
    assert found[0][2] == pytest.approx(0.9, abs=1e-6)


def test_threshold_zero_writes_a_trace_whose_replay_equals_every_online_run():
    rng = np.random.default_rng(0)
    hops = [rng.dirichlet(np.ones(len(LABELS)) * 0.3) for _ in range(400)]
    trace_detector = streaming.Detector(LABELS, smooth_hops=4, thresholds=0.0, refractory_s=1.0)
    trace = [(i * 0.1, *trace_detector.update(i * 0.1, p)) for i, p in enumerate(hops)]
    assert len(trace) == len(hops)  # every hop, every label
    assert {label for _, label, _ in trace} >= {"_silence_", "yes"}
    for threshold in (0.3, 0.5, 0.7):
        for refractory_s in (0.0, 0.5, 1.0):
            online = streaming.Detector(LABELS, smooth_hops=4, thresholds=threshold, refractory_s=refractory_s)
            expected = [(i * 0.1, *found) for i, p in enumerate(hops) if (found := online.update(i * 0.1, p))]
            assert streaming.replay(trace, threshold, refractory_s) == expected
            assert expected  # the comparison is not vacuous


def test_per_keyword_thresholds_fire_each_keyword_at_its_own_and_a_missing_one_never():
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds={"yes": 0.8}, refractory_s=0.0)
    scores = [0.85, 0.1, 0.75, 0.1, 0.95, 0.1]
    found = run(detector, ["yes", "_silence_", "yes", "_silence_", "no", "_silence_"], scores=scores)
    assert [(round(t, 1), label) for t, label, _ in found] == [(0.1, "yes")]  # "yes" at 0.75 < 0.8, "no" absent
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds={"yes": 0.8, "no": 0.5}, refractory_s=0.0)
    found = run(detector, ["yes", "_silence_", "no", "_silence_", "yes"], scores=[0.7, 0.9, 0.6, 0.9, 0.9])
    assert [(round(t, 1), label) for t, label, _ in found] == [(0.3, "no"), (0.5, "yes")]


def test_min_hops_fires_at_the_hop_the_run_reaches_it_once_per_run():
    labels_by_hop = ["yes", "_silence_", "yes", "yes", "yes", "yes", "_silence_", "no", "no", "yes", "no", "no"]
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds=0.5, refractory_s=0.0, min_hops=2)
    found = run(detector, labels_by_hop)
    # a single hop of "yes" is not enough; the run of four fires at its second hop, once; "no, no" fires
    # at its second hop; the "yes" between breaks the run of "no"
    assert [(round(t, 1), label) for t, label, _ in found] == [(0.4, "yes"), (0.9, "no"), (1.2, "no")]
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds=0.5, refractory_s=0.0, min_hops=3)
    assert [(round(t, 1), label) for t, label, _ in run(detector, labels_by_hop)] == [(0.5, "yes")]
    # a score below the threshold breaks a run as well
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds=0.5, refractory_s=0.0, min_hops=2)
    assert run(detector, ["yes", "yes", "yes"], scores=[0.9, 0.4, 0.9]) == []


def test_min_hops_and_the_refractory_time_together():
    # "yes" fires at 0.2; "no" reaches two hops at 0.4 but the refractory time (0.5 s) passes only at 0.7
    detector = streaming.Detector(LABELS, smooth_hops=1, thresholds=0.5, refractory_s=0.5, min_hops=2)
    found = run(detector, ["yes", "yes", "no", "no", "no", "no", "no", "no"])
    assert [(round(t, 1), label) for t, label, _ in found] == [(0.2, "yes"), (0.7, "no")]


@pytest.mark.parametrize("smooth_hops", [1, 3, 5])
def test_offline_smoothing_and_trace_equal_the_online_detector(smooth_hops):
    rng = np.random.default_rng(smooth_hops)
    probs = rng.dirichlet(np.ones(len(LABELS)) * 0.3, size=300).astype(np.float32)
    online = streaming.Detector(LABELS, smooth_hops, 0.0, 1.0)
    expected = [((k + 1) * 0.1, *online.update((k + 1) * 0.1, p)) for k, p in enumerate(probs)]
    assert streaming.trace_of(probs, LABELS, smooth_hops, 0.1) == expected  # exactly: labels, scores and times
    smoothed = streaming.smooth(probs, smooth_hops)
    np.testing.assert_allclose(smoothed[0], probs[0], rtol=1e-7)  # the first hop averages only itself
    np.testing.assert_allclose(smoothed[-1], probs[-smooth_hops:].mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("smooth_hops, thresholds, refractory_s, min_hops", [
    (1, 0.4, 0.0, 1), (3, 0.5, 1.0, 2), (4, {"yes": 0.45, "no": 0.6}, 0.5, 1), (2, {"no": 0.4}, 0.3, 3),
    (5, 0.35, 1.0, 3)])
def test_online_detector_equals_the_offline_trace_replayed(smooth_hops, thresholds, refractory_s, min_hops):
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(len(LABELS)) * 0.3, size=600).astype(np.float32)
    online = streaming.Detector(LABELS, smooth_hops, thresholds, refractory_s, min_hops)
    expected = [((k + 1) * 0.1, *found) for k, p in enumerate(probs) if (found := online.update((k + 1) * 0.1, p))]
    trace = streaming.trace_of(probs, LABELS, smooth_hops, 0.1)
    assert streaming.replay(trace, thresholds, refractory_s, min_hops) == expected
    assert len(expected) >= 3  # the comparison is not vacuous
    # the Trigger, hop by hop, agrees with the vectorised replay too
    trigger = streaming.Trigger(thresholds, refractory_s, min_hops)
    assert [row for row in trace if trigger.step(*row)] == expected


def toy_front_end(frames):
    """A stand-in feature front end: per-frame log energy and the first frame's first samples."""
    energy = np.log(np.mean(frames ** 2, axis=1, keepdims=True) + 1e-6)
    return np.concatenate([energy, frames[:, :3]], axis=1).astype(np.float32)


def toy_classifier(features):
    """A stand-in classifier that depends on every feature and on their order."""
    weights = np.sin(np.arange(features.size, dtype=np.float32)).reshape(features.shape)
    return np.array([np.sum(weights * features), np.sum(features[:5])], np.float32)


@pytest.mark.parametrize("hop_samples", [320, 1600, 3200, 16000])
def test_feature_stream_equals_the_whole_window_recomputed_every_hop(hop_samples):
    spec = {"window_samples": 16000, "frame_length_samples": 640, "frame_step_samples": 320, "frames": 49, "bins": 4}
    whole = streaming.WindowStream(lambda window: toy_classifier(
        toy_front_end(streaming.frames_of(window, 640, 320)[:49])))
    cached = streaming.FeatureStream(toy_front_end, toy_classifier, spec, hop_samples)
    signal = np.random.default_rng(1).standard_normal(5 * 16000).astype(np.float32) * 0.1
    for hop in streaming.hops([signal], hop_samples):
        np.testing.assert_allclose(cached.push(hop), whole.push(hop), rtol=1e-5, atol=1e-4)
    assert len(cached.features) == spec["frames"] and len(cached.audio) < 640 + hop_samples  # bounded memory


def test_feature_stream_needs_a_hop_on_the_frame_grid():
    spec = {"window_samples": 16000, "frame_length_samples": 640, "frame_step_samples": 320, "frames": 49, "bins": 4}
    with pytest.raises(ValueError, match="not a multiple of the model's frame step"):
        streaming.FeatureStream(toy_front_end, toy_classifier, spec, 1000)


def test_hops_regroup_blocks_and_pad_the_end_and_the_tail():
    blocks = [np.arange(5, dtype=np.float32), np.arange(5, 12, dtype=np.float32), np.zeros(0, np.float32)]
    hops = list(streaming.hops(blocks, 4, tail_samples=6))
    assert [len(h) for h in hops] == [4] * 5  # 12 samples + 6 of tail -> 18 -> 5 hops of 4
    np.testing.assert_array_equal(np.concatenate(hops)[:12], np.concatenate(blocks))
    assert not np.concatenate(hops)[12:].any()


def wav_header_bytes(rate, channels, bits, data_size, tag=1):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"LIST" + struct.pack("<I", 3) + b"abc\x00" + b"data" + struct.pack("<I", data_size))


@pytest.mark.parametrize("rate, channels", [(16000, 1), (48000, 2), (44100, 1), (8000, 1)])
def test_wav_and_raw_pcm_read_in_blocks_equal_reading_the_whole_file(rate, channels):
    rng = np.random.default_rng(rate)
    frames = (0.2 * rng.standard_normal((3 * rate + 17, channels))).astype(np.float32)
    pcm = audio.float_to_int16(frames).astype("<i2").tobytes()
    expected = audio.decode_wav(wav_header_bytes(rate, channels, 16, len(pcm)) + pcm)
    for size in (len(pcm), 0xFFFFFFFF, 0):  # a true length, and the header of a pipe that never knew it
        got = np.concatenate(list(streaming.wav_blocks(io.BytesIO(wav_header_bytes(rate, channels, 16, size) + pcm),
                                                       "x.wav")))
        np.testing.assert_allclose(got, expected, atol=1e-6)
    raw = np.concatenate(list(streaming.pcm_blocks(io.BytesIO(pcm + b"\x01"), rate, channels)))  # a torn last byte
    np.testing.assert_allclose(raw, expected, atol=1e-6)


def test_a_wav_longer_than_its_header_says_is_read_to_the_declared_end_and_bad_headers_are_clear():
    pcm = audio.float_to_int16(np.full(1000, 0.5, np.float32)).tobytes()
    got = np.concatenate(list(streaming.wav_blocks(io.BytesIO(wav_header_bytes(16000, 1, 16, 600) + pcm), "x.wav")))
    assert len(got) == 300
    with pytest.raises(audio.WavError, match="x.wav: not a WAV file"):
        streaming.wav_blocks(io.BytesIO(b"OggS" + pcm), "x.wav")
    with pytest.raises(audio.WavError, match="empty file"):
        streaming.wav_blocks(io.BytesIO(b""), "x.wav")
    with pytest.raises(audio.WavError, match="compressed"):
        streaming.wav_blocks(io.BytesIO(wav_header_bytes(16000, 1, 16, 100, tag=0x55) + pcm), "x.wav")
