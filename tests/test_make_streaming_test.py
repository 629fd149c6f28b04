"""make_streaming_test.py: deterministic streams, labels that match the audio, both kinds of clip folder.

The tone corpus here (each word a tone burst of its own pitch) is also what conftest.py's tone_corpus
writes once per test run and its tone_run models are trained on.
"""

import csv
import json
import os

import numpy as np
import pytest

from kws.data import audio
from kws import cli
from kws.data import corpus as layout  # "corpus" names the test corpus here
from kws.data import labels
from kws.stream import make_streaming_test

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


def make_stream(clips, noise, out, seed=0, minutes=1.5, *extra, reuse=True):
    """A stream of the four tone command words; `reuse` (the default here: these folders are small and
    test_spot_keywords.py needs its whole 2 minutes) passes --reuse."""
    return make_streaming_test.main(["--clips", clips, "--noise", noise, "--minutes", str(minutes),
                                     "--seed", str(seed), "--out", str(out), "--keywords", *COMMANDS, *extra,
                                     *(["--reuse"] if reuse else [])])


@pytest.fixture
def tones(tone_corpus):
    """(corpus, test folder, noise folder): conftest's tone corpus, made once per test run."""
    return tone_corpus


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
    words = read_rows(tmp_path / "v" / "words.csv")
    clips = {w["clip"] for w in words}
    validation = {key for key, _, _, split in layout.index_folder(corpus).clips if split == "validation"}
    assert clips and clips <= validation  # the path in the corpus: word/speaker_nohash_0.wav
    assert all(w["clip"].split("/")[0] == w["word"] for w in words) and {w["source"] for w in words} == {corpus}
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


# ---------------------------------------------------------------------------- honest streams: no clip twice

def read_stream(folder):
    """(stream.json, words.csv rows, labels.csv rows, stream.wav length in s) of a stream folder."""
    with open(os.path.join(folder, "stream.json")) as f:
        info = json.load(f)
    length_s = len(audio.read_wav(os.path.join(folder, "stream.wav"))) / audio.SAMPLE_RATE
    return info, read_rows(os.path.join(folder, "words.csv")), read_rows(os.path.join(folder, "labels.csv")), length_s


def make_command_corpus(root):
    """root/yes/: three clips of a command word and nothing else."""
    os.makedirs(os.path.join(root, "yes"))
    for s in range(3):
        audio.write_wav(os.path.join(root, "yes", f"s{s}_nohash_0.wav"), burst("yes", s))
    return str(root)


def gaps_s(words):
    return [float(b["start_s"]) - float(a["end_s"]) for a, b in zip(words, words[1:])]


@pytest.mark.parametrize("fraction, ended_by, exhausted", [("0.9", "command clips", 4 * 6),
                                                           ("0.2", "other clips", 2 * 6)])
def test_no_clip_is_used_twice_and_the_stream_ends_when_a_pool_runs_out(tones, tmp_path, fraction, ended_by,
                                                                        exhausted):
    _, test_dir, noise = tones
    make_stream(test_dir, noise, tmp_path / "s", 0, 10.0, "--command_fraction", fraction, reuse=False)
    info, words, _, length_s = read_stream(tmp_path / "s")
    assert len({(w["source"], w["clip"]) for w in words}) == len(words)  # no clip twice
    assert info["clips_used_more_than_once"] == 0 and info["ended_by"] == ended_by
    kind = "command" if ended_by == "command clips" else "other"
    assert sum((w["label"] != labels.UNKNOWN_LABEL) == (kind == "command") for w in words) == exhausted
    assert info["clip_pools"][kind] == {"clips": exhausted, "used": exhausted, "max_uses": 1}
    # cut 1.5 s after the last word, and stream.json gives the real length
    assert length_s == pytest.approx(float(words[-1]["end_s"]) + 1.5, abs=1e-3) and length_s < 5 * 60
    assert info["minutes"] == pytest.approx(length_s / 60, abs=1e-6) and info["minutes_asked"] == 10.0


def test_reuse_repeats_clips_in_rounds_and_fills_the_minutes(tones, tmp_path):
    _, test_dir, noise = tones
    make_stream(test_dir, noise, tmp_path / "r", 0, 2.0)
    info, words, _, length_s = read_stream(tmp_path / "r")
    uses = {os.path.basename(p): 0 for p in os.listdir(os.path.join(test_dir, "audio")) if "silence" not in p}
    for w in words:
        uses[w["clip"]] += 1
    assert length_s == 120.0 and info["ended_by"] == "minutes" and info["minutes"] == 2.0
    assert info["clips_used_more_than_once"] == sum(n > 1 for n in uses.values()) > 0
    for kind in (COMMANDS, ("cat", "dog")):  # rounds: every clip of a pool once before any again
        counts = [n for clip, n in uses.items() if clip[len("clip_"):-len("0.wav")] in kind]
        assert len(counts) == 6 * len(kind) and max(counts) - min(counts) <= 1


def test_other_clips_add_their_other_words_and_drop_command_words(tones, tmp_path, caplog):
    corpus, test_dir, noise = tones
    with caplog.at_level("INFO"):
        make_stream(test_dir, noise, tmp_path / "o", 0, 10.0, "--other_clips", corpus, reuse=False)
    info, words, _, _ = read_stream(tmp_path / "o")
    assert f"{corpus}: 160 clips of command words dropped" in caplog.text  # 4 words x 40 speakers
    from_corpus = [w for w in words if w["source"] == corpus]
    assert from_corpus and {w["word"] for w in from_corpus} <= {"cat", "dog"}
    keys = {key for key, _, _, _ in layout.index_folder(corpus).clips}  # every split of the folder
    assert all(w["clip"] in keys and w["clip"].startswith(w["word"] + "/") for w in from_corpus)
    assert {os.path.basename(w["clip"]) for w in words if w["source"] == test_dir} <= \
        {w["clip"] for w in words if w["source"] == test_dir}  # a test folder's clips: their file names
    assert info["words_by_source"] == {test_dir: len(words) - len(from_corpus), corpus: len(from_corpus)}
    assert len({(w["source"], w["clip"]) for w in words}) == len(words)
    others = [w["source"] for w in words if w["label"] == labels.UNKNOWN_LABEL]  # --clips' other words first
    own = sum(word not in COMMANDS for _, _, word in make_streaming_test.find_clips(test_dir, "testing"))
    assert 0 < own < len(others) and others == [test_dir] * own + [corpus] * (len(others) - own)
    with open(tmp_path / "o" / "words.csv") as f:
        assert f.readline().strip() == "word,label,start_s,end_s,clip,snr_db,speed,source"


def test_negatives_only_places_no_command_word(tones, tmp_path):
    corpus, test_dir, noise = tones
    make_stream(test_dir, noise, tmp_path / "n", 0, 10.0, "--negatives_only", reuse=False)
    info, words, label_rows, length_s = read_stream(tmp_path / "n")
    with open(tmp_path / "n" / "labels.csv") as f:
        assert f.read().strip() == "label,start_s,end_s" and not label_rows
    assert len(words) == 12 and {w["label"] for w in words} == {labels.UNKNOWN_LABEL}
    assert info["ended_by"] == "other clips" and info["command_words"] == 0
    assert info["keyword_free_minutes"] == pytest.approx(length_s / 60)
    # --clips may then hold command words only, the other words coming from --other_clips
    commands = make_command_corpus(tmp_path / "commands")
    only_commands = make_stream(commands, noise, tmp_path / "c", 0, 1.0, "--other_clips", test_dir,
                                "--negatives_only", reuse=False)
    assert only_commands["words_by_source"] == {commands: 0, test_dir: only_commands["words"]} and \
        only_commands["words"] > 0
    # ... or be left out
    base = ["--noise", noise, "--minutes", "1", "--out", str(tmp_path / "o"), "--keywords", *COMMANDS]
    alone = make_streaming_test.main([*base, "--other_clips", test_dir, "--negatives_only"])
    assert alone["words_by_source"] == {test_dir: alone["words"]} and alone["command_words"] == 0
    with pytest.raises(SystemExit):
        make_streaming_test.main([*base, "--other_clips", test_dir, "--overwrite"])  # positives need --clips


def test_sentences_are_runs_of_other_words_with_short_gaps_at_one_snr(tones, tmp_path):
    corpus, test_dir, noise = tones
    common = ("--other_clips", corpus, "--negatives_only", "--gap_s", "1.0", "3.0", "--snr_db", "5", "15")
    make_stream(test_dir, noise, tmp_path / "t", 0, 10.0, *common, "--sentence_probability", "1",
                "--sentence_gap_s", "0.05", "0.2", reuse=False)
    info, words, _, _ = read_stream(tmp_path / "t")
    runs, run = [], [words[0]]
    for gap, word in zip(gaps_s(words), words[1:]):
        if gap < 0.5:
            assert 0.05 - 2e-3 <= gap <= 0.2 + 2e-3
            run.append(word)
        else:
            assert 1.0 - 2e-3 <= gap <= 3.0 + 2e-3
            runs.append(run)
            run = [word]
    assert len(runs) >= 5 and all(3 <= len(r) <= 10 for r in runs)  # the last run may be cut by the end
    assert len({len(r) for r in runs}) > 2  # a count drawn per sentence
    assert all(len({w["snr_db"] for w in r}) == 1 for r in runs) and len({r[0]["snr_db"] for r in runs}) > 1
    assert all(len({w["speed"] for w in r}) > 1 for r in runs)  # each word at its own speed
    assert info["settings"]["sentence_probability"] == 1.0 and info["settings"]["sentence_gap_s"] == [0.05, 0.2]
    make_stream(test_dir, noise, tmp_path / "w", 0, 3.0, *common, reuse=False)  # no sentences: no short gaps
    assert min(gaps_s(read_stream(tmp_path / "w")[1])) >= 1.0 - 2e-3


def test_keyword_free_minutes_are_the_time_outside_every_command_word_and_its_second(tones, tmp_path):
    _, test_dir, noise = tones
    # short gaps and mostly command words: the intervals [start, end + 1 s] overlap and must be merged
    make_stream(test_dir, noise, tmp_path / "k", 0, 1.0, "--gap_s", "0.25", "0.6", "--command_fraction", "0.8")
    info, _, label_rows, length_s = read_stream(tmp_path / "k")
    covered, reach = 0.0, 0.0
    for row in label_rows:  # in time order
        start, end = max(float(row["start_s"]), reach), min(float(row["end_s"]) + 1.0, length_s)
        covered, reach = covered + max(0.0, end - start), max(reach, end)
    naive = sum(min(float(r["end_s"]) + 1.0, length_s) - float(r["start_s"]) for r in label_rows)
    assert naive > covered + 1.0  # the overlaps matter here
    assert info["keyword_free_minutes"] == pytest.approx((length_s - covered) / 60, abs=1e-4)


def test_noise_only_stretches_are_10_to_60_s_and_about_the_fraction_asked(tones, tmp_path):
    corpus, test_dir, noise = tones
    make_stream(test_dir, noise, tmp_path / "q", 0, 20.0, "--other_clips", corpus, "--negatives_only",
                "--gap_s", "0.25", "1.0", "--noise_only_fraction", "0.3")
    info, words, _, length_s = read_stream(tmp_path / "q")
    gaps = gaps_s(words)
    long_gaps = [g for g in gaps if g > 1.0 + 2e-3]
    assert all(10.25 - 2e-3 <= g <= 61.0 + 2e-3 for g in long_gaps)  # a stretch after the word's own gap
    assert len(long_gaps) >= 5 and info["noise_only"]["stretches"] >= len(long_gaps)
    share = (sum(long_gaps) + length_s - float(words[-1]["end_s"])) / length_s  # the stream may end in one
    assert 0.2 < share < 0.4 and 0.2 < info["noise_only"]["minutes"] / info["minutes"] < 0.4
    assert info["settings"]["noise_only_fraction"] == 0.3
    make_stream(test_dir, noise, tmp_path / "p", 0, 3.0, "--other_clips", corpus, "--negatives_only",
                "--gap_s", "0.25", "1.0")
    assert max(gaps_s(read_stream(tmp_path / "p")[1])) <= 1.0 + 2e-3 and \
        read_stream(tmp_path / "p")[0]["noise_only"] == {"stretches": 0, "minutes": 0.0}


def test_the_new_draws_are_deterministic_too(tones, tmp_path):
    corpus, test_dir, noise = tones
    extra = ("--other_clips", corpus, "--sentence_probability", "0.5", "--noise_only_fraction", "0.2")
    for name in ("a", "b"):
        make_stream(test_dir, noise, tmp_path / name, 5, 3.0, *extra, reuse=False)
    make_stream(test_dir, noise, tmp_path / "c", 6, 3.0, *extra, reuse=False)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    assert file_bytes(tmp_path / "a")["words.csv"] != file_bytes(tmp_path / "c")["words.csv"]


def test_the_stream_is_written_block_by_block_as_audio_writes_a_wav(tmp_path):
    samples = np.random.default_rng(0).uniform(-1.2, 1.2, 3 * make_streaming_test.WAV_CHUNK_SAMPLES // 2 + 7)
    make_streaming_test.write_stream(str(tmp_path / "s.wav"), np.clip(samples, -1, 1).astype(np.float32))
    assert (tmp_path / "s.wav").read_bytes() == audio.wav_bytes(np.clip(samples, -1, 1).astype(np.float32))


def test_bad_other_clips_are_a_clear_error(tones, tmp_path):
    corpus, test_dir, noise = tones
    os.makedirs(tmp_path / "empty")
    make_command_corpus(tmp_path / "commands")
    os.makedirs(tmp_path / "noisy" / labels.BACKGROUND_NOISE_DIR)
    audio.write_wav(str(tmp_path / "noisy" / labels.BACKGROUND_NOISE_DIR / "n.wav"), burst("cat", 0))
    cases = [(("--other_clips", str(tmp_path / "nowhere")), "nowhere: --other_clips folder not found"),
             (("--other_clips", str(tmp_path / "empty")), "empty: no <word>/\\*.wav folders"),
             (("--other_clips", str(tmp_path / "noisy")), "noisy: no labelled word clips"),
             (("--other_clips", str(tmp_path / "commands")), "commands: --other_clips folder holds only command"),
             (("--other_clips", test_dir), "given twice"),
             (("--negatives_only", "--keywords", *TONE_HZ), "--negatives_only: no other words in")]
    for extra, message in cases:
        with pytest.raises(cli.UserError, match=message):
            make_stream(test_dir, noise, tmp_path / "out", 0, 1.0, *extra, reuse=False)
