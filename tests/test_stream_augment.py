"""stream_augment.py and its AugmentSettings: training words turned into windows as a spotter sees them."""

import dataclasses

import numpy as np
import pytest

from kws.data import audio
from kws.data import input_data
from kws.data import stream_augment
from kws.training.settings import AugmentSettings
from test_input_data import NO_AUGMENT, make_corpus, processor

CLIP = audio.CLIP_SAMPLES
BURST = (4800, 4800 + 6400)  # 0.4 s of tone from 0.3 s


def burst_clip(frequency_hz, amplitude=0.3):
    clip = np.zeros(CLIP, np.float32)
    t = np.arange(BURST[1] - BURST[0]) / audio.SAMPLE_RATE
    clip[BURST[0]:BURST[1]] = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    return clip


def word_clip(word, speaker):
    return burst_clip({"yes": 500.0, "no": 900.0, "up": 1500.0, "cat": 2500.0, "dog": 3500.0}[word])


@pytest.fixture(scope="module")
def bursts(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("bursts") / "train", clip_fn=word_clip, speakers=20)


def record(**fields):
    window = stream_augment.no_windows(1)[0]
    window["on"], window["neighbour_rows"], window["snr_db"] = True, (-1, -1), 20.0
    for name, value in fields.items():
        window[name] = value
    return window


def energy_runs(x, level=1e-3):
    """[(first, end)] of the runs of 10 ms frames whose RMS exceeds `level`."""
    frames = np.sqrt(np.mean(x[:len(x) // 160 * 160].reshape(-1, 160) ** 2, axis=1)) > level
    edges = np.flatnonzero(np.diff(np.concatenate([[0], frames.astype(int), [0]])))
    return [(int(a) * 160, int(b) * 160) for a, b in zip(edges[::2], edges[1::2])]


def test_the_word_goes_wholly_anywhere_in_the_window_or_a_window_edge_cuts_it():
    clip, length = burst_clip(500.0), BURST[1] - BURST[0]
    for position in (0.0, 0.3, 1.0):
        out = stream_augment.render(clip, record(position=position), [None, None], None)
        start = round(position * (CLIP - length))
        assert energy_runs(out) == [(start, start + length)]
    for left_edge in (True, False):
        out = stream_augment.render(clip, record(partial=True, left_edge=left_edge, shown=0.25), [None, None], None)
        assert energy_runs(out) == ([(0, length // 4)] if left_edge else [(CLIP - length // 4, CLIP)])


def test_neighbours_reach_in_from_the_edges_at_most_half_shown_and_the_noise_is_at_the_snr():
    clip, length = burst_clip(500.0), BURST[1] - BURST[0]
    neighbours = [burst_clip(2500.0, 0.05), burst_clip(3500.0, 0.6)]
    window = record(position=0.5, neighbour_gap_s=(0.1, 0.1), neighbour_shown=(0.4, 0.3), neighbour_db=(0.0, -6.0))
    out = stream_augment.render(clip, window, neighbours, None)
    start = round(0.5 * (CLIP - length))
    left_end = min(start - 1600, round(0.4 * length))
    right_start = max(start + length + 1600, CLIP - round(0.3 * length))
    assert energy_runs(out) == [(0, left_end), (start, start + length), (right_start, CLIP)]
    word_rms = np.sqrt(np.mean(out[start:start + length] ** 2))
    assert np.sqrt(np.mean(out[:left_end] ** 2)) == pytest.approx(word_rms, rel=0.05)  # 0 dB, whatever its level
    assert np.sqrt(np.mean(out[right_start:] ** 2)) == pytest.approx(word_rms / 2, rel=0.05)  # -6 dB
    noise = np.random.default_rng(0).standard_normal(3 * CLIP).astype(np.float32)
    noisy = stream_augment.render(clip, record(position=0.5, snr_db=10.0, noise_start=CLIP), [None, None], noise)
    noise_rms = np.sqrt(np.mean(noisy[:start] ** 2))
    assert 20 * np.log10(word_rms / noise_rms) == pytest.approx(10.0, abs=0.5)


def test_a_loud_window_is_scaled_down_not_clipped():
    out = stream_augment.render(burst_clip(500.0, 1.0), record(position=0.5, neighbour_rows=(1, -1)),
                                [burst_clip(900.0, 1.0), None], None)
    assert np.abs(out).max() == pytest.approx(0.99, abs=1e-6)


def test_processor_windows_keep_or_relabel_the_word_and_spare_silence(bursts):
    augment = dict(NO_AUGMENT, stream_probability=0.7, stream_partial_probability=0.4, stream_neighbour_probability=0.0,
                   stream_snr_db=(60.0, 60.0))
    ap = processor(bursts, augment=augment, silence_percentage=20.0)
    length, counts, starts = BURST[1] - BURST[0], {"whole": 0, "partial": 0, "clip": 0}, []
    for batch in range(6):
        plan = ap.training_plan(0, batch, 16)
        x = ap.render(plan)
        for r in range(len(plan)):
            if plan.rows[r] < 0:
                assert not plan.window["on"][r]  # silence samples stay silence
                continue
            counts["clip"] += 1
            if not plan.window["on"][r]:
                continue
            (first, end), = energy_runs(x[r], level=0.01)
            if plan.window["partial"][r]:
                counts["partial"] += 1
                assert plan.label[r] == input_data.UNKNOWN_INDEX and (first == 0 or end == CLIP)
                assert 0.1 * length - 160 <= end - first <= 0.5 * length + 160
            else:
                counts["whole"] += 1
                assert plan.label[r] == ap._row_label[plan.rows[r]] and end - first == pytest.approx(length, abs=160)
                starts.append(first)
    on = counts["whole"] + counts["partial"]
    assert 0.5 < on / counts["clip"] < 0.9 and 0.2 < counts["partial"] / on < 0.6
    assert min(starts) < 2000 and max(starts) > CLIP - length - 2000  # anywhere in the window


def test_stream_windows_have_their_own_random_stream(bursts):
    off = processor(bursts, augment=dict(NO_AUGMENT, background_frequency=0.5))
    on = processor(bursts, augment=dict(NO_AUGMENT, background_frequency=0.5, stream_probability=0.5))
    for batch in range(3):
        a, b = off.training_plan(1, batch, 16), on.training_plan(1, batch, 16)
        for field in dataclasses.fields(a):
            if field.name not in ("label", "window"):  # everything else is drawn as before
                np.testing.assert_array_equal(getattr(a, field.name), getattr(b, field.name))
        relabelled = b.window["on"] & b.window["partial"]
        np.testing.assert_array_equal(a.label[~relabelled], b.label[~relabelled])
        assert not a.window["on"].any()
    np.testing.assert_array_equal(on.render(on.training_plan(2, 0, 16)), on.render(on.training_plan(2, 0, 16)))


def test_a_relabelled_fragment_gets_no_teacher_probabilities(bursts):
    base = processor(bursts)
    c = len(base.labels)
    teacher = {key: np.eye(c, dtype=np.float32)[label] for key, _, label in base.clips("training")}
    ap = processor(bursts, teacher_probs=teacher,
                   augment=dict(NO_AUGMENT, stream_probability=1.0, stream_partial_probability=0.5))
    plan = ap.training_plan(0, 0, 32)
    y = ap.targets(plan, packed=True)
    relabelled = plan.window["on"] & plan.window["partial"]
    assert relabelled.any() and (y[relabelled, 2 * c] == 0).all()
    assert (y[(plan.rows >= 0) & ~relabelled, 2 * c] == 1).all()


def test_stream_settings_are_checked():
    with pytest.raises(ValueError, match="stream_probability is a probability"):
        AugmentSettings(stream_probability=1.5)
    with pytest.raises(ValueError, match="stream_snr_db must be"):
        AugmentSettings(stream_snr_db=(20.0, 10.0))
