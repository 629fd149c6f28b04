"""A clip length other than 1 s, end to end: the setting, the corpus (--clip_ms, auto), and a 1.5 s
model through training, export, the Pi script and the spotter."""

import argparse
import csv
import json

import numpy as np
import pytest

from kws.data import audio
from kws.export import freeze_graph
from kws.export import make_submission_on_rpi as rpi
from kws.export import runtime
from kws.data import make_synthetic_dataset as synth
from kws.training import settings
from kws.stream import spot_keywords
from kws.stream import stream_models
from kws.training import train

CLIP_MS = 1500
CLIP_SAMPLES = 24000  # 1.5 s at 16 kHz, written out: the test checks audio.clip_samples too
TEST_CLIPS = 6
TINY_CORPUS = ["--words", "lights on,hey pi", "--speakers", "8", "--test_clips", str(TEST_CLIPS),
               "--noise_duration_s", "2", "--seed", "3", "--workers", "2", "--clip_ms", str(CLIP_MS)]


def _values(**changes):
    return {**settings.defaults(), **changes}


def test_clip_duration_is_a_multiple_of_10_ms_from_500_to_3000_and_bounds_the_time_shift():
    settings.check(_values(clip_duration_ms=CLIP_MS, time_shift_ms=1200.0))  # a shift within the longer clip
    assert settings.clip_samples(_values(clip_duration_ms=CLIP_MS)) == audio.clip_samples(CLIP_MS) == CLIP_SAMPLES
    for bad in (490, 1505, 3010):
        with pytest.raises(settings.SettingsError, match="clip_duration_ms"):
            settings.check(_values(clip_duration_ms=bad))
    with pytest.raises(settings.SettingsError, match="time_shift_ms"):
        settings.check(_values(time_shift_ms=1200.0))  # longer than the default 1 s clip
    sections = settings.config_sections(_values(clip_duration_ms=CLIP_MS))
    assert sections["data"]["clip_duration_ms"] == CLIP_MS  # a run folder carries its clip length
    assert settings.settings_from_config(sections, "config.json")["clip_duration_ms"] == CLIP_MS


def _planned_clip_ms(words):
    args = synth.build_parser().parse_args(["--out", "unused", "--words", words, "--clip_ms", "auto"])
    return synth.plan_vocabulary(args, synth.parse_words(args.words)).clip_ms


def test_auto_clip_length_fits_the_longest_keyword():
    assert synth.auto_clip_ms({"go": 0.5}) == 1000
    assert synth.auto_clip_ms({"a": 0.5, "b": 0.95}) == 1250  # 0.95 s is more than 0.9 of 1 s
    assert synth.auto_clip_ms({"a": 9.0}) == 3000  # at most the longest clip training takes
    assert _planned_clip_ms("cat,dog") == 1000
    assert _planned_clip_ms("hey raspberry pi,turn the lights on") > 1000


@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "corpus"
    synth.main(["--out", str(out), *TINY_CORPUS])
    return out


def test_clip_ms_writes_clips_of_that_length_and_corpus_json_says_so(long_corpus):
    assert json.loads((long_corpus / synth.CORPUS_FILE).read_text())["clip_ms"] == CLIP_MS
    test_lengths = {len(audio.read_wav(str(p))) for p in (long_corpus / "test" / "audio").glob("*.wav")}
    assert test_lengths == {CLIP_SAMPLES}
    train_lengths = [len(audio.read_wav(str(p))) for p in (long_corpus / "train" / "audio").glob("[!_]*/*.wav")]
    assert max(train_lengths) == CLIP_SAMPLES and min(train_lengths) > audio.CLIP_SAMPLES // 2
    with pytest.raises(argparse.ArgumentTypeError):
        synth._clip_ms_arg("1234")  # not a length training takes


def test_a_1_5_s_model_trains_exports_labels_clips_and_spots(long_corpus, tmp_path):
    run_dir, prefix = tmp_path / "run", tmp_path / "tf" / "m"
    train.main(["--data_dir", str(long_corpus / "train"), "--run_dir", str(run_dir), "--wanted_words", "lights_on",
                "hey_pi", "--clip_duration_ms", str(CLIP_MS), "--model", "ds_cnn", "--model_params", "filters=8",
                "num_blocks=1", "--epochs", "1", "--batch_size", "32", "--loader_threads", "1"])
    assert json.loads((run_dir / "config.json").read_text())["data"]["clip_duration_ms"] == CLIP_MS

    written = freeze_graph.main(["--run_dir", str(run_dir), "--out", str(prefix), "--streaming", "--check_clips", "8",
                                 "--calibration_clips", "8", "--allow_int8_disagreement"])
    assert runtime.TfliteModel(written["int8"], 1).clip_samples == CLIP_SAMPLES  # the TFLite input [1, 24000]
    assert runtime.FrozenGraphModel(written["pb"], 1).clip_samples == CLIP_SAMPLES  # decoded_sample_data [24000, 1]
    assert json.loads(open(written["streaming"]).read())["window_samples"] == CLIP_SAMPLES

    submission = tmp_path / "pi.csv"
    rpi.main(["--model", written["int8"], "--test_data", str(long_corpus / "test"), "--submission_fn", str(submission),
              "--num_threads", "1"])
    with open(submission) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == TEST_CLIPS and {r["label"] for r in rows} <= {"_silence_", "_unknown_", "lights_on", "hey_pi"}

    for full_window in (True, False):  # the whole model, and the front end + classifier split
        model = stream_models.load_stream_model(written["int8"], 1600, full_window=full_window)
        assert model.stream.window_samples == CLIP_SAMPLES
    wav = tmp_path / "long.wav"
    clip = audio.read_wav(str(sorted((long_corpus / "test" / "audio").glob("*.wav"))[0]))
    audio.write_wav(str(wav), np.concatenate([clip, np.zeros(audio.SAMPLE_RATE, np.float32)]))
    stats = spot_keywords.main(["--model", written["int8"], "--input", str(wav), "--out", str(tmp_path / "d.csv"),
                                "--threshold", "0"])
    assert stats["hops"] == (CLIP_SAMPLES + audio.SAMPLE_RATE + CLIP_SAMPLES) // 1600  # the tail: one window
