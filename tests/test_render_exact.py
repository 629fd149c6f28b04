"""AudioProcessor.render puts each augmentation into the batch exactly: the volume, the speed change,
the time shift and the noise gain of a plan give known samples (the helpers are tested on their
own elsewhere; this checks that render uses them). Also: a split hashed on speakers keeps every
clip of a speaker in one split when speakers have several files."""

import numpy as np
import pytest

from kws.data import audio
from kws.data import corpus
from kws.data import input_data
from kws.data import labels
from kws.data import samples

SR = audio.SAMPLE_RATE


def chirp(seed):
    """A clip with a distinct, non-periodic waveform (so a shift or a speed change shows)."""
    rng = np.random.default_rng(seed)
    t = np.arange(audio.CLIP_SAMPLES) / SR
    return (0.25 * np.sin(2 * np.pi * (200 + 600 * t) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    root = tmp_path_factory.mktemp("render") / "train"
    for w, word in enumerate(("yes", "no")):
        (root / word).mkdir(parents=True)
        for s in range(6):
            for n in range(2):  # two files per speaker
                audio.write_wav(str(root / word / f"spk{s:03d}_nohash_{n}.wav"), chirp(100 * w + 10 * s + n))
    (root / labels.BACKGROUND_NOISE_DIR).mkdir()
    audio.write_wav(str(root / labels.BACKGROUND_NOISE_DIR / "noise.wav"),
                    np.clip(np.random.default_rng(9).normal(0, 0.1, 2 * SR), -1, 1))
    return input_data.AudioProcessor([str(root)], wanted_words=["yes", "no"], validation_percentage=30.0,
                                     testing_percentage=30.0, progress=False)


def plan(row, shift=0, gain=1.0, speed=1.0, noise_file=-1, noise_start=0, noise_gain=0.0):
    one = lambda value, dtype: np.array([value], dtype)  # noqa: E731
    return samples.BatchPlan(one(row, np.int64), one(2, np.int64), one(shift, np.int64), one(gain, np.float64),
                                one(speed, np.float64), one(noise_file, np.int64), one(noise_start, np.int64),
                                one(noise_gain, np.float64), one(np.nan, np.float64))


def cached_clip(ap, row):
    return ap._cache[row].astype(np.float32) / 32768.0


def test_volume_scales_the_clip_exactly(processor):
    clip = cached_clip(processor, 0)
    np.testing.assert_allclose(processor.render(plan(0, gain=0.5))[0], 0.5 * clip, atol=1e-7)


def test_speed_is_exactly_change_speed(processor):
    clip = cached_clip(processor, 1)
    np.testing.assert_allclose(processor.render(plan(1, speed=1.25))[0], samples.change_speed(clip, 1.25),
                               atol=1e-7)


def test_shift_moves_the_clip_and_fills_zeros(processor):
    clip = cached_clip(processor, 2)
    shifted = processor.render(plan(2, shift=800))[0]
    np.testing.assert_allclose(shifted[800:], clip[:-800], atol=1e-7)
    assert not shifted[:800].any()


def test_noise_is_added_at_its_gain(processor):
    clip, noise = cached_clip(processor, 3), processor.noise[0]
    mixed = processor.render(plan(3, noise_file=0, noise_start=123, noise_gain=0.4))[0]
    np.testing.assert_allclose(mixed, np.clip(clip + np.float32(0.4) * noise[123:123 + audio.CLIP_SAMPLES], -1, 1),
                               atol=1e-6)


def test_every_file_of_a_speaker_lands_in_one_split(processor):
    split_of = {}
    for split in corpus.SPLITS:
        for key, _, _ in processor.clips(split):
            split_of.setdefault(corpus.speaker_of(key), set()).add(split)
    assert len(split_of) == 6 and all(len(splits) == 1 for splits in split_of.values())
    assert len({next(iter(s)) for s in split_of.values()}) > 1  # the speakers are not all in one split
