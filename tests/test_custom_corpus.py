"""make_synthetic_dataset.py for your own keywords: phrases, eSpeak languages, near misses, other words."""

import csv
import json
import os

import numpy as np
import pytest

from kws.data import audio
from kws import cli
from kws.data import labels
from kws.data import make_synthetic_dataset as synth
from kws.data import phonemes
from test_synthetic_dataset import file_hashes

GERMAN = ["--words", "licht an,hallo", "--language", "de", "--speakers", "4", "--test_clips", "0",
          "--near_misses", "3", "--other_words", "5", "--noise_duration_s", "1", "--seed", "2", "--workers", "2"]




def bare_key(phoneme_text):
    """A pronunciation without [[ ]], stress marks and pauses."""
    return "".join(c for c in phoneme_text.strip("[]") if c not in phonemes.STRESS + "_| ")


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    out = tmp_path_factory.mktemp("custom") / "de"
    synth.main(["--out", str(out), *GERMAN])
    return out


def test_phrases_are_parsed_into_labels():
    phrases = synth.parse_words(" Lights  On ,don't-stop,Grüß Gott,привет")
    assert phrases == ("lights on", "don't-stop", "grüß gott", "привет")
    assert [labels.phrase_label(p) for p in phrases] == ["lights_on", "don't-stop", "grüß_gott", "привет"]
    assert synth.parse_words("v1") == labels.WORDS_V1 and synth.parse_words("V2") == labels.WORDS_V2
    for bad in ("lights_on", "yes,Yes", "a1", "'quote", "dash-", " , ", "lights  on,lights on"):
        with pytest.raises(cli.UserError, match="--words"):
            synth.parse_words(bad)


def test_list_languages_prints_them_without_out(capsys):
    synth.main(["--list_languages"])
    lines = capsys.readouterr().out.splitlines()
    languages = {line.split()[0] for line in lines}
    assert {"de", "en-us", "fr-fr", "es"} <= languages and len(lines) > 100
    assert any(line.split()[0] == "de" and "German" in line for line in lines)


def test_unknown_language_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        synth.main(["--out", str(tmp_path / "none"), "--words", "hallo", "--language", "klingon"])
    assert "--list_languages" in capsys.readouterr().err and not (tmp_path / "none").exists()
    voices = synth._planning_engine().voices()
    voice, family = phonemes.resolve_language(voices, "fr-be")
    assert voice.key == "fr-be" and {v.key for v in family} == {"fr", "fr-be", "fr-ch"}


def test_speech_commands_lists_keep_their_command_words_as_keywords():
    parse = lambda *flags: synth.build_parser().parse_args(["--out", "x", *flags])  # noqa: E731
    vocab = synth.plan_vocabulary(parse("--words", "yes,no,cat"), ("yes", "no", "cat"))
    assert vocab.keywords == ("yes", "no") and vocab.speech_commands and vocab.base_voices == synth.BASE_VOICES
    vocab = synth.plan_vocabulary(parse("--words", "yes,cat", "--language", "en-us"), ("yes", "cat"))
    assert vocab.keywords == ("yes", "cat") and not vocab.speech_commands and "en-gb-x-rp" in vocab.base_voices


def test_german_corpus_folders_hold_audible_clips(german):
    info = json.loads((german / synth.CORPUS_FILE).read_text())
    misses = [m["folder"] for found in info["near_misses"].values() for m in found]
    assert sorted(misses) == [f"nearmiss_{k}_{n}" for k in ("hallo", "licht_an") for n in range(3)]
    assert len(info["other_words"]) == 5 and all(w.startswith("number_") for w in info["other_words"])
    folders = set(os.listdir(german / "train" / "audio")) - {labels.BACKGROUND_NOISE_DIR}
    assert folders == {"licht_an", "hallo", *misses, *info["other_words"]}
    for folder in folders:
        clips = list((german / "train" / "audio" / folder).glob("*.wav"))
        assert clips, folder
        for clip in clips:
            samples = audio.read_wav(clip)
            assert len(samples) <= audio.CLIP_SAMPLES and np.sqrt(np.mean(samples ** 2)) > 10 ** (-45 / 20), clip


def test_german_corpus_json_describes_the_vocabulary(german):
    info = json.loads((german / synth.CORPUS_FILE).read_text())
    assert info["language"] == "de" and info["keywords"] == ["licht_an", "hallo"]
    assert info["phrases"] == {"licht_an": "licht an", "hallo": "hallo"} and info["words"] == ["licht_an", "hallo"]
    kinds = [m["kind"] for m in info["near_misses"]["licht_an"]]
    assert kinds[:2] == ["word", "word"]  # each word of the phrase alone comes first
    assert {"seed", "counts", "speaker_settings"} <= set(info)
    bases = [s["voice"].split("+")[0] for s in info["speaker_settings"]]
    accents = {v.key for v in phonemes.accent_voices(synth._planning_engine().voices(), [])}
    assert bases.count("de") >= 2 and set(bases) <= {"de"} | accents - {"de"}  # German, a few accented


def test_near_misses_sound_unlike_every_keyword(german):
    info = json.loads((german / synth.CORPUS_FILE).read_text())
    engine = synth._planning_engine()  # one initialised library per process
    keyword_keys = {bare_key(phonemes.speakable(engine.phonemes(t, "de"))) for t in info["phrases"].values()}
    found = [m["phonemes"] for misses in info["near_misses"].values() for m in misses]
    assert all(p.startswith("[[") and p.endswith("]]") for p in found)
    assert len({bare_key(p) for p in found}) == len(found) and not {bare_key(p) for p in found} & keyword_keys


def test_same_flags_give_the_same_bytes(german, tmp_path):
    again = tmp_path / "again"
    synth.main(["--out", str(again), *GERMAN[:-1], "1"])  # one worker instead of two
    assert file_hashes(again) == file_hashes(german)


def test_custom_test_set_labels_its_keywords(tmp_path):
    out = tmp_path / "en"
    synth.main(["--out", str(out), "--words", "lights on,hey pi", "--language", "en-us", "--speakers", "5",
                "--test_clips", "24", "--other_words", "4", "--noise_duration_s", "1", "--workers", "2"])
    with open(out / "test" / "solution.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["label"] for r in rows} == {"lights_on", "hey_pi", "unknown", "silence"}
    assert all(r["label"] == r["word"] for r in rows if r["label"] not in ("unknown", "silence"))
    assert sum(r["label"] == "lights_on" for r in rows) == sum(r["label"] == "hey_pi" for r in rows)
    assert os.listdir(out / "train" / "audio" / "lights_on")


def test_near_miss_candidates_and_draws():
    words = [["l", "'I", "C", "t"], ["_|", "'a", "n"]]
    found = phonemes.near_miss_candidates(words, [[["l", "'I", "C", "t"]], [["'a", "n"]]], ["a", "I", "o:"],
                                          ["C", "l", "n", "t"], [[["aI", "n", "s"]]])
    assert set(phonemes.KINDS) == {k for k, v in found.items() if v}
    assert [["l", "'o:", "C", "t"], ["_|", "'a", "n"]] in found["vowel"]  # stress kept on the new vowel
    assert [["l", "'I", "t"], ["_|", "'a", "n"]] in found["drop"]
    assert found["prefix"] == [[["aI", "n", "s", "l", "'I", "C", "t"], ["_|", "'a", "n"]]]
    forbidden = {phonemes.key(words)}
    first = phonemes.draw_near_misses(np.random.default_rng(0), found, 6, set(forbidden))
    assert first == phonemes.draw_near_misses(np.random.default_rng(0), found, 6, set(forbidden))
    assert [k for k, _ in first][:3] == ["word", "word", "vowel"]
    keys = {phonemes.key(w) for _, w in first}
    assert len(keys) == 6 and phonemes.key(words) not in keys
