"""make_streaming_test.py: deterministic streams, labels that match the audio, both kinds of clip folder.

The tone corpus here (each word a tone burst of its own pitch) is also what test_spot_keywords.py
trains its tiny models on.
"""

import csv
import json
import os

import numpy as np
import pytest

import audio
import cli
import corpus as layout  # "corpus" names the test corpus here
import labels
import make_streaming_test

COMMANDS = ("yes", "no", "up", "down")
TONE_HZ = {"yes": 400.0, "no": 800.0, "up": 1600.0, "down": 3200.0, "cat": 5000.0, "dog": 6400.0}


def burst(word, seed):
    """A one-second clip: a faint noise floor and a 0.3-0.45 s tone burst of the word's pitch."""
    rng = np.random.default_rng([seed, list(TONE_HZ).index(word)])
    clip = 0.002 * rng.standard_normal(audio.CLIP_SAMPLES)
    length = int(rng.uniform(0.3, 0.45) * audio.SAMPLE_RATE)
    start = int(rng.uniform(0.2, 0.45) * audio.SAMPLE_RATE)
    t = np.arange(length) / audio.SAMPLE_RATE
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    clip[start:start + length] += rng.uniform(0.2, 0.4) * envelope * np.sin(
        2 * np.pi * TONE_HZ[word] * rng.uniform(0.97, 1.03) * t)
    return clip.astype(np.float32)


def make_tone_corpus(root, speakers=40):
    """root/<word>/spkNNN_nohash_0.wav, a validation list (every fifth speaker) and white noise."""
    validation = []
    for word in TONE_HZ:
        os.makedirs(os.path.join(root, word))
        for s in range(speakers):
            key = f"{word}/spk{s:03d}_nohash_0.wav"
            audio.write_wav(os.path.join(root, key), burst(word, s))
            if s % 5 == 0:
                validation.append(key)
    with open(os.path.join(root, "validation_list.txt"), "w") as f:
        f.write("\n".join(validation) + "\n")
    noise_dir = os.path.join(root, labels.BACKGROUND_NOISE_DIR)
    os.makedirs(noise_dir)
    audio.write_wav(os.path.join(noise_dir, "white.wav"),
                    0.05 * np.random.default_rng(0).standard_normal(3 * audio.SAMPLE_RATE))
    return str(root)


def make_tone_test_folder(root, per_word=6):
    """Kaggle-like root/audio/clip_*.wav and solution.csv (fname,label,word), one silence clip."""
    os.makedirs(os.path.join(root, "audio"))
    rows = []
    for word in TONE_HZ:
        for i in range(per_word):
            fname = f"clip_{word}{i}.wav"
            audio.write_wav(os.path.join(root, "audio", fname), burst(word, 1000 + i))
            rows.append((fname, word if word in COMMANDS else "unknown", word))
    audio.write_wav(os.path.join(root, "audio", "clip_silence.wav"), np.zeros(audio.CLIP_SAMPLES, np.float32))
    rows.append(("clip_silence.wav", "silence", labels.SILENCE_LABEL))
    with open(os.path.join(root, "solution.csv"), "w", newline="") as f:
        csv.writer(f).writerows([("fname", "label", "word"), *rows])
    return str(root)


def make_stream(clips, noise, out, seed=0, minutes=1.5, *extra):
    return make_streaming_test.main(["--clips", clips, "--noise", noise, "--minutes", str(minutes),
                                     "--seed", str(seed), "--out", str(out), "--keywords", *COMMANDS, *extra])


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    corpus = make_tone_corpus(str(root / "train"))
    return corpus, make_tone_test_folder(str(root / "test")), os.path.join(corpus, labels.BACKGROUND_NOISE_DIR)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def file_bytes(folder):
    return {name: open(os.path.join(folder, name), "rb").read()
            for name in ("stream.wav", "labels.csv", "words.csv", "stream.json")}


def test_the_same_seed_gives_the_same_bytes_and_another_seed_another_stream(tones, tmp_path):
    _, test_dir, noise = tones
    make_stream(test_dir, noise, tmp_path / "a", 3)
    make_stream(test_dir, noise, tmp_path / "b", 3)
    make_stream(test_dir, noise, tmp_path / "c", 4)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    assert file_bytes(tmp_path / "a")["stream.wav"] != file_bytes(tmp_path / "c")["stream.wav"]
    assert file_bytes(tmp_path / "a")["labels.csv"] != file_bytes(tmp_path / "c")["labels.csv"]


def test_labels_are_the_command_words_placed_where_the_audio_is(tones, tmp_path):
    _, test_dir, noise = tones
    info = make_stream(test_dir, noise, tmp_path / "s", 0, 3.0, "--snr_db", "10", "20")
    stream = audio.read_wav(str(tmp_path / "s" / "stream.wav"))
    assert len(stream) == 3 * 60 * audio.SAMPLE_RATE
    words = read_rows(tmp_path / "s" / "words.csv")
    commands = [w for w in words if w["label"] != labels.UNKNOWN_LABEL]
    assert [(w["label"], w["start_s"], w["end_s"]) for w in commands] == \
        [(r["label"], r["start_s"], r["end_s"]) for r in read_rows(tmp_path / "s" / "labels.csv")]
    assert {w["word"] for w in words} == set(TONE_HZ)  # silence clips are no words
    assert {w["label"] for w in words if w["word"] in ("cat", "dog")} == {labels.UNKNOWN_LABEL}
    # about 1,480 words an hour, a third of them command words (binomial bounds)
    assert 55 <= len(words) <= 95 and 0.2 < len(commands) / len(words) < 0.47
    assert info["words"] == len(words) and info["command_words"] == len(commands)
    ends = [float(w["end_s"]) for w in words]
    starts = [float(w["start_s"]) for w in words]
    assert all(e - s >= 0.2 for s, e in zip(starts, ends))  # the tone burst, 0.3-0.45 s at 0.92-1.08x speed
    assert all(b - a >= 0.25 - 1e-3 for a, b in zip(ends, starts[1:]))  # the gaps
    for w in words:  # the word's pitch is what sounds in its span, at the drawn SNR
        span = stream[int(float(w["start_s"]) * audio.SAMPLE_RATE):int(float(w["end_s"]) * audio.SAMPLE_RATE)]
        spectrum = np.abs(np.fft.rfft(span))
        peak_hz = np.argmax(spectrum) * audio.SAMPLE_RATE / len(span)
        assert peak_hz == pytest.approx(TONE_HZ[w["word"]] * float(w["speed"]), rel=0.05)
        assert 10.0 - 0.1 <= float(w["snr_db"]) <= 20.0 + 0.1


def test_a_corpus_folder_gives_the_clips_of_its_split(tones, tmp_path):
    corpus, _, noise = tones
    make_stream(corpus, noise, tmp_path / "v", 1, 1.0, "--split", "validation")
    clips = {w["clip"] for w in read_rows(tmp_path / "v" / "words.csv")}
    validation = {os.path.basename(p) for _, p, _, split in layout.index_folder(corpus).clips
                  if split == "validation"}
    assert clips and clips <= validation
    with open(tmp_path / "v" / "stream.json") as f:
        assert json.load(f)["settings"]["split"] == "validation"


def test_bad_input_is_a_clear_error(tones, tmp_path):
    corpus, test_dir, noise = tones
    os.makedirs(tmp_path / "quiet")
    audio.write_wav(str(tmp_path / "quiet" / "zeros.wav"), np.zeros(1000, np.float32))
    cases = [((str(tmp_path / "nowhere"), noise), "clips folder not found"),
             ((test_dir, str(tmp_path / "nowhere")), "noise folder not found"),
             ((test_dir, str(tmp_path / "quiet")), "no readable, non-silent noise"),
             ((os.path.join(corpus, "yes"), noise), "no <word>/\\*.wav folders"),
             ((corpus, noise), "no labelled word clips")]  # list files and no testing list: no testing split
    for (clips, noise_dir), message in cases:
        with pytest.raises(cli.UserError, match=message):
            make_stream(clips, noise_dir, tmp_path / "out")
    with pytest.raises(cli.UserError, match="no other words"):
        make_stream(test_dir, noise, tmp_path / "out", 0, 1.0, "--keywords", *TONE_HZ)
