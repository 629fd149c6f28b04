"""Builds a Speech-Commands-style corpus from speech synthesised with eSpeak NG, plus a Kaggle-style test set.

    python make_synthetic_dataset.py --out data/synth [--speakers 300] [--words v2] [--test_clips 1000]
        [--seed 0] [--noise_dir DIR] [--workers N] [--timeout_s 20] [--overwrite] [--dry_run]
    python make_synthetic_dataset.py --out data/licht --words "licht an,hallo" --language de \
        --near_misses 8 --other_words 150                  # your own keywords, in any eSpeak language
    python make_synthetic_dataset.py --out data/hey --words "hey raspberry pi" --clip_ms auto   # long phrases
    python make_synthetic_dataset.py --list_languages      # what --language takes

Words: `--words` is 'v1', 'v2' (the Speech Commands vocabularies: the ten command words are the
keywords, the others fillers) or a comma list of words or phrases (letters of any script, spaces
between words, ' or - inside a word; lower-cased). A phrase's folder and label is its words joined
by "_" (`labels.phrase_label`: "lights on" -> `lights_on`); eSpeak reads the phrase. The words of a
custom list are the keywords (spoken more often and repeated), except that without `--language` a
list holding command words ("yes,no,cat") stays a Speech Commands subset as before: its command
words are the keywords. Every clip is `--clip_ms` long (default 1000: one second, as Speech Commands);
a word or phrase longer than 0.9 of the clip is spoken again faster until it fits, and planning warns
about a keyword that the slowest speakers must say more than 1.5x faster. `--clip_ms auto` takes the
shortest clip, in 250 ms steps from 1000 up to 3000, in which every keyword said by the slowest
speakers (SLOWEST_WPM, the rate the warning measures) fits without speeding up: a long phrase ("hey
raspberry pi") gets a longer clip instead of being gabbled. Train on the corpus with
`train.py --clip_duration_ms` set to corpus.json's `clip_ms`.
Languages: without `--language`, English voices (BASE_VOICES). `--language L` (an eSpeak NG
language or voice, e.g. de, fr-fr, en-us; `--list_languages` prints them all): the speakers use L's
voice and the other voices of its family (same primary subtag: fr, fr-be, fr-ch), each with the
variants below; ~10% of them are accented: a voice of another language (phonemes.ACCENT_LANGUAGES,
those that read the keywords aloud without spelling them) reads the same text. They say the
keywords and text words, not the near misses or numbers, whose sounds are L's.
Unknown words: `--near_misses N` adds, per keyword, N sound-alikes made from eSpeak's own phonemes of
the keyword in L's first voice (espeak_TextToPhonemes): a phrase's words alone first, then in turn a
changed vowel, a dropped, replaced or swapped consonant, the keyword inside a longer word (a short
word fused before or after it), drawn from [--seed, 7]; an edit that sounds like a keyword, or that
speaks as silence, is dropped. They are spoken back as phoneme input `[[...]]` into folders
`nearmiss_<keyword>_<n>`, which training reads as `_unknown_`. `--other_words N` adds N ordinary
words: English vocabulary.TRAINING_NEGATIVE_WORDS, then (every language) numbers as eSpeak reads
them in L, folders `number_<n>`; one that sounds like a keyword is dropped. All this is planned in
the parent process before any audio, so the plan stays deterministic.

Writes (the real dataset's layout, see docs/ARCHITECTURE.md):
- `OUT/train/audio/<word>/<speaker>_nohash_<n>.wav`: 16 kHz mono 16-bit clips of up to the clip
  length (about 10% shorter, as in the real data), the word at a random position; some speakers
  repeat a word.
- `OUT/train/audio/_background_noise_/`: `synthetic_<kind>_noise.wav` for the 5 colours and 6
  everyday kinds of `generate_noise.py` (`--noise_duration_s`, 60 s by default), plus copies of the
  real noise WAVs of `--noise_dir`, which are also mixed under speech and used for silence clips.
- `OUT/train/validation_list.txt`, `testing_list.txt`: paths relative to `audio/`, split by speaker.
- `OUT/train/training_clips.csv`: `path,label` of every training-split clip (paths relative to the
  CSV's folder), the labelled-clip list that `train.py --pseudo_labels ... --pseudo_ratio R` mixes
  into another dataset's training batches (how `experiments/300_real_speech.toml` uses the corpus).
- `OUT/test/audio/clip_<9 hex>.wav`: clips of the clip length, of speakers absent from train/,
  anonymous and shuffled: the ten command words (a custom list's keywords) evenly, ~9.5% other words (some in no
  label set, as in the Kaggle test), ~9% silence (noise only, quiet to loud); `OUT/test/solution.csv`
  = fname,label,word, label = the Kaggle label (a custom list's: the keyword, unknown or silence).
- `OUT/corpus.json`: settings (`clip_ms`: the clip length in ms, the one `auto` chose), counts,
  every speaker's voice and channel, and the vocabulary:
  "words" (labels of --words), "language" ("en" by default), "keywords" (labels), "phrases" ({label:
  spoken text}), "near_misses" ({keyword: [{"folder", "kind", "phonemes"}]}), "other_words" (folders);
  written last, so its presence marks a complete corpus.

A speaker is a fixed voice: an eSpeak voice of the language with a variant (m1-m8, f1-f5, klatt, whisper...),
rate, pitch, pitch range, vocal-tract length (the 22,050 Hz output read at another rate, which moves
formants, before resampling to 16 kHz), a preferred intonation, and a recording channel (level, room
echo, microphone band limit and colouring, background noise, noise floor, sometimes saturation).
Each utterance jitters rate, pitch, level and intonation. The speaker id is 8 hex digits.

OUT must be empty or absent; `--overwrite` first deletes OUT/train, OUT/test and OUT/corpus.json
(nothing else in OUT is touched), and only when this script wrote them: OUT holds corpus.json, or
`OUT/.make_synthetic_dataset.partial`, the marker of an unfinished run (written before the first
file, removed when corpus.json is written). `--out data` of the real dataset is refused even with
`--overwrite`, and so is a `--noise_dir` inside OUT/train or OUT/test.

Determinism: the same flags (and --noise_dir files) give the same bytes, whatever `--workers`.
eSpeak keeps state between calls (pitch-flutter counters, phases, filter memories), so each fixed
chunk of 128 clips is rendered in a fresh process forked from a server that never synthesised
(multiprocessing "forkserver"), replaying the same calls; eSpeak's random generator, which it seeds
from the clock, is reseeded for every clip; every other choice comes from `--seed`, through one
planning generator in the parent and a seed per clip.
Robustness: a worker that makes no progress for `--timeout_s` (eSpeak has been seen to hang) is
killed and its chunk rerun in a new process, giving the same bytes; after 3 hangs on one clip it
is spoken with its speaker's plain voice, after 3 more the run stops naming the clip. Test hook:
MAKE_SYNTHETIC_DATASET_HANG_ONCE=<path relative to OUT> in the environment makes that clip's first
attempt hang.

Speed: about 3.5 ms of CPU per clip; the default corpus (300 speakers: ~6,600 training clips,
1,000 test clips, 11 noise files of 60 s) takes well under a minute on 2 cores.

Size: ~770 lines, above the project's ~450, because the speaker model, the corpus plan and the
chunked rendering are one deterministic generator whose bytes depend on all three drawing from
one plan; what stands alone lives elsewhere (espeak.py: synthesis in hang-proof workers, voices and
phonemes; phonemes.py: languages and phoneme edits; generate_noise.py: the noise files, corpus.py:
the layout and the clip lists).
"""

import argparse
import collections
import dataclasses
import logging
import math
import os
import shutil
import time
import traceback
from functools import lru_cache

import numpy as np
from scipy import signal
from tqdm import tqdm

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import espeak
from kws.data import generate_noise
from kws.data import labels
from kws.data import phonemes
from kws import runs
from kws.training import settings
from kws.data import vocabulary

log = logging.getLogger(__name__)


CORPUS_FILE = "corpus.json"
PARTIAL_MARKER = ".make_synthetic_dataset.partial"  # OUT/train and OUT/test are ours until corpus.json
TRAINING_CLIPS_FILE = "training_clips.csv"
HANG_HOOK_ENV = "MAKE_SYNTHETIC_DATASET_HANG_ONCE"
CHUNK_CLIPS = 128  # clips per fresh process (fewer: start-up costs show); defines the output, so not a flag
UNSEEN_WORDS = ("hello", "okay", "please", "thanks", "water", "music", "window", "coffee", "purple",
                "morning", "little", "number", "yellow", "again")
BASE_VOICES = ("en-us", "en-us", "en-us", "en-us-nyc", "en", "en-gb-x-rp", "en-gb-scotland", "en-029",
               "en-gb-x-gbclan", "en-gb-x-gbcwmd")  # en-us thrice: most of the real speakers are American
MALE_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Alex", "Andy", "Denis", "Diogo", "Gene",
                 "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Mario", "Michael", "Mike", "Storm", "adam",
                 "announcer", "antonio", "benjamin", "boris", "croak", "david", "ed", "edward", "edward2",
                 "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta", "klatt",
                 "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "marcelo", "max", "michel", "miguel",
                 "mike2", "norbert", "pablo", "paul", "pedro", "quincy", "Reed", "rob", "robert", "sandro",
                 "travis", "victor")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "anika", "aunty", "belinda",
                   "grandma", "linda", "shelby", "steph", "steph2", "steph3", "zac")
WHISPER_VARIANTS = ("whisper", "whisperf", "caleb")
INTONATIONS = (".", "", "!", ",", "?")  # falling, plain, emphatic, continuing, rising
INTONATION_WEIGHTS = (0.35, 0.25, 0.15, 0.15, 0.10)
ACCENTED_SHARE = 0.1  # of the speakers of a --language corpus: another language's voice reads the text
SLOWEST_WPM = 115 * 0.9  # sample_speaker's slowest rate, with _speak's slowest jitter
MAX_SPEED_UP = 1.5  # a keyword needing more than this to fit a clip at the slowest rate gets a warning
SPEECH_SHARE = 0.9  # of a clip that a word may fill: the rest is room to place it (and for the time shift)
AUTO_CLIP_STEP_MS = 250  # --clip_ms auto: the clip lengths it chooses from, audio.CLIP_MS and up
VOCABULARY_STREAM = 7  # the near misses and other words draw from [seed, 7]: the speakers stay those of --seed


@dataclasses.dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: voice settings and recording channel, fixed across its clips."""
    speaker_id: str
    seed: int
    voice: str
    rate_wpm: int
    pitch: int
    pitch_range: int
    tract_rate_hz: int  # rate the 22,050 Hz output is read at (higher = shorter vocal tract); a multiple
    # of 400 Hz, so the resampling filter to 16 kHz stays short (a ratio of small integers)
    intonation: str
    loudness_dbfs: float
    highpass_hz: float
    lowpass_hz: float  # 0 = no band limit below 8 kHz
    eq: tuple  # peaking filters (centre Hz, gain dB, Q)
    room_rt60_s: float  # 0 = no room echo
    room_drr_db: float
    noise: str  # a generate_noise kind, a real noise file name, or "" for a clean channel
    snr_db: float
    floor_dbfs: float
    drive: float  # > 0: saturating microphone preamp


@dataclasses.dataclass(frozen=True)
class ClipTask:
    path: str  # relative to OUT
    word: str  # the word's label (its folder), or labels.SILENCE_LABEL
    speaker: object  # Speaker, None for silence
    seed: int
    full_length: bool  # False: the clip may be cut short, as ~10% of the real training clips are
    text: str = ""  # what eSpeak reads: the phrase, or phoneme input "[[...]]" for a near miss


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """What the corpus says: every folder's label and text, which are keywords, the voices."""
    language: str  # the eSpeak language, "en" for the default English corpus
    words: tuple  # labels of --words, in their order
    texts: dict  # label -> spoken text, for every word of the corpus (and the test set's unseen words)
    keywords: tuple  # labels
    speech_commands: bool  # True: a Speech Commands corpus (keywords = its command words, Kaggle labels)
    near_misses: dict  # keyword label -> [{"folder", "kind", "phonemes"}]
    other_words: tuple  # labels
    unseen: tuple  # labels of words only the test set says
    base_voices: tuple = BASE_VOICES
    accent_voices: tuple = ()
    clip_ms: int = audio.CLIP_MS  # every clip's length (--clip_ms, or what auto chose)

    @property
    def all_words(self):
        """Every training folder: --words, then the near misses, then the other words."""
        misses = [m["folder"] for found in self.near_misses.values() for m in found]
        return tuple(self.words) + tuple(misses) + tuple(self.other_words)

    @property
    def native_only(self):
        """Words an accented voice does not say: phoneme input is its language's, numbers read in another
        language are other words."""
        return {w for w in self.all_words if w.startswith("nearmiss_") or w.startswith("number_")}


@dataclasses.dataclass(frozen=True)
class NoiseTask:
    path: str
    kind: str
    duration_s: float
    seed: int


def _draw_voice(rng, base_voices, accent_voices):
    """A base voice; with accent voices, one of them for ACCENTED_SHARE of the speakers."""
    voice = str(rng.choice(base_voices))
    if accent_voices and rng.random() < ACCENTED_SHARE:
        voice = str(rng.choice(accent_voices))
    return voice


def sample_speaker(rng, speaker_id, noise_sources, base_voices=BASE_VOICES, accent_voices=()):
    """Draws a speaker's voice and channel (see the module docstring)."""
    female = rng.random() < 0.5
    variants = WHISPER_VARIANTS if rng.random() < 0.04 else FEMALE_VARIANTS if female else MALE_VARIANTS
    variant = str(rng.choice(variants))
    tract = rng.uniform(0.97, 1.16) if female else rng.uniform(0.88, 1.06)
    if rng.random() < 0.08:
        tract = rng.uniform(1.12, 1.25)  # child-like, or a male voice pushed up
    lowpass_roll = rng.random()
    noisy = rng.random() < 0.8
    return Speaker(
        speaker_id=speaker_id, seed=int(rng.integers(2 ** 31)),
        voice=_draw_voice(rng, base_voices, accent_voices) + (f"+{variant}" if variant else ""),
        rate_wpm=int(rng.uniform(115, 230)), pitch=int(np.clip(rng.normal(50, 16), 5, 95)),
        pitch_range=int(rng.uniform(15, 90)), tract_rate_hz=int(round(22050 * tract / 400) * 400),
        intonation=str(rng.choice(INTONATIONS, p=INTONATION_WEIGHTS)),
        loudness_dbfs=round(rng.uniform(-34, -12), 1), highpass_hz=round(rng.uniform(40, 250)),
        lowpass_hz=round(rng.uniform(3000, 3800) if lowpass_roll < 0.2 else
                         rng.uniform(4000, 7500) if lowpass_roll < 0.65 else 0.0),
        eq=tuple((round(rng.uniform(250, 5000)), round(rng.uniform(-9, 9), 1), round(rng.uniform(0.7, 2.5), 2))
                 for _ in range(rng.integers(0, 3))),
        room_rt60_s=round(rng.uniform(0.1, 0.7), 2) if rng.random() < 0.55 else 0.0,
        room_drr_db=round(rng.uniform(-2, 15), 1), noise=str(rng.choice(noise_sources)) if noisy else "",
        snr_db=round(rng.uniform(5, 40), 1), floor_dbfs=round(rng.uniform(-85, -60), 1),
        drive=round(rng.uniform(1.5, 5), 2) if rng.random() < 0.08 else 0.0)


# ---------------------------------------------------------------------------------------------------
# Rendering (runs in the worker processes)

@lru_cache(maxsize=256)
def _mic_filter(highpass_hz, lowpass_hz, eq):
    """Second-order sections of the microphone: high-pass, optional low-pass, peaking filters."""
    sections = [signal.butter(2, highpass_hz, "highpass", fs=audio.SAMPLE_RATE, output="sos")]
    if lowpass_hz:
        sections.append(signal.butter(4, lowpass_hz, fs=audio.SAMPLE_RATE, output="sos"))
    for centre_hz, gain_db, q in eq:  # RBJ audio-EQ-cookbook peaking filter
        amp, w0 = 10 ** (gain_db / 40), 2 * np.pi * centre_hz / audio.SAMPLE_RATE
        alpha = np.sin(w0) / (2 * q)
        b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp])
        a = np.array([1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp])
        sections.append(np.concatenate([b / a[0], a / a[0]])[None])
    return np.concatenate(sections)


def _room_response(speaker):
    """A short room impulse response (direct sound plus an exponentially decaying tail), per speaker."""
    rng = np.random.default_rng([speaker.seed, 1])
    num_samples = int(min(speaker.room_rt60_s, 0.5) * audio.SAMPLE_RATE)
    t = np.arange(num_samples) / audio.SAMPLE_RATE
    tail = rng.standard_normal(num_samples) * np.exp(-6.9 * t / speaker.room_rt60_s)  # -60 dB at RT60
    tail[: int(rng.uniform(0.002, 0.012) * audio.SAMPLE_RATE)] = 0.0  # delay of the first reflections
    tail *= np.sqrt(10 ** (-speaker.room_drr_db / 10) / np.sum(tail ** 2))
    tail[0] += 1.0
    return tail


def _trim(samples, floor_db=-45.0):
    """Drops the silence eSpeak leaves before and after the word (10 ms frames below floor_db of the peak)."""
    frame = audio.SAMPLE_RATE // 100
    energy = np.add.reduceat(samples.astype(np.float64) ** 2, np.arange(0, len(samples), frame))
    loud = np.flatnonzero(energy > energy.max() * 10 ** (floor_db / 10))
    return samples[loud[0] * frame: (loud[-1] + 1) * frame]


def _speak(engine, speaker, word, rng, plain, clip_samples):
    """The dry word at 16 kHz, silence trimmed; `plain` = the speaker's base voice without jitter.

    A word longer than 0.9 of the clip (slow voices such as Marco or Alicia, long phrases) is spoken
    again faster, so that it fits in the clip of `clip_samples` as the real recordings do.
    """
    intonation = speaker.intonation if rng.random() < 0.7 else str(rng.choice(INTONATIONS, p=INTONATION_WEIGHTS))
    rate_factor, pitch, pitch_range = rng.uniform(0.9, 1.12), rng.normal(0, 4), rng.normal(0, 8)
    voice, seed = speaker.voice, int(rng.integers(2 ** 31))
    if plain:
        voice, rate_factor, pitch, pitch_range = speaker.voice.split("+")[0], 1.0, 0.0, 0.0
    rate_wpm, max_samples = speaker.rate_wpm * rate_factor, int(SPEECH_SHARE * clip_samples)
    for _ in range(3):
        raw = engine.synthesize(word + intonation, voice=voice, rate_wpm=min(rate_wpm, 450), seed=seed,
                                pitch=np.clip(speaker.pitch + pitch, 0, 99), volume=50,
                                pitch_range=np.clip(speaker.pitch_range + pitch_range, 0, 99))
        if not np.any(raw):
            raise espeak.EspeakError(f"eSpeak produced no sound for {word!r} with voice {voice!r}")
        # scipy's resample_poly (audio.resample's numpy twin gives the same values ~10x slower)
        g = math.gcd(speaker.tract_rate_hz, audio.SAMPLE_RATE)
        resampled = signal.resample_poly(audio.int16_to_float(raw), audio.SAMPLE_RATE // g, speaker.tract_rate_hz // g)
        samples = _trim(resampled.astype(np.float32))
        if len(samples) <= max_samples:
            break
        rate_wpm *= 1.1 * len(samples) / max_samples
    return samples


def render_speech(engine, task, noise_bank, clip_samples, plain=False):
    """One clip of up to `clip_samples`: the word placed in the clip, through the speaker's room, noise
    and microphone."""
    speaker, rng = task.speaker, np.random.default_rng(task.seed)
    word = _speak(engine, speaker, task.text or task.word, rng, plain, clip_samples).astype(np.float64)
    if not task.full_length and rng.random() < 0.1:
        clip_samples = int(rng.integers(min(len(word) + 1600, clip_samples - 1), clip_samples))
    word = word[:clip_samples]
    word[-160:] *= np.linspace(1, 0, len(word[-160:]))  # 10 ms fade: no click where the word was cut
    level = 10 ** ((speaker.loudness_dbfs + rng.normal(0, 2)) / 20) / np.sqrt(np.mean(word ** 2))
    peak = np.max(np.abs(word)) * level
    if peak > 0.95 and rng.random() < 0.85:  # most recorders keep the peaks in range; a few clip
        level *= rng.uniform(0.7, 0.95) / peak
    start = int(rng.integers(0, clip_samples - len(word) + 1))
    clip = np.zeros(clip_samples)
    clip[start:start + len(word)] = word * level
    if speaker.room_rt60_s:
        clip = signal.fftconvolve(clip, _room_response(speaker))[:clip_samples]
    if speaker.noise:
        noise_rms = level * np.sqrt(np.mean(word ** 2)) * 10 ** (-(speaker.snr_db + rng.normal(0, 2)) / 20)
        bed = noise_bank.bed_segment(speaker.speaker_id, speaker.noise, (speaker.seed, 2), clip_samples, rng)
        clip += noise_rms * bed
    clip = signal.sosfilt(_mic_filter(speaker.highpass_hz, speaker.lowpass_hz, speaker.eq), clip)
    if speaker.drive:
        clip = np.tanh(speaker.drive * clip) / speaker.drive
    return clip + 10 ** (speaker.floor_dbfs / 20) * rng.standard_normal(clip_samples)


def render_silence(task, noise_bank, clip_samples):
    """A noise-only clip of `clip_samples`: one or two noise sources at a level from very quiet to loud,
    through a microphone."""
    rng = np.random.default_rng(task.seed)
    sources = [str(rng.choice(noise_bank.sources)) for _ in range(rng.integers(1, 3))]
    clip = sum(rng.uniform(0.2, 1.0) * noise_bank.segment(source, clip_samples, rng) for source in sources)
    lowpass_hz = rng.uniform(3000, 7500) if rng.random() < 0.5 else 0.0
    clip = signal.sosfilt(_mic_filter(round(rng.uniform(30, 200)), round(lowpass_hz), ()), clip)
    return clip * 10 ** (rng.uniform(-62, -10) / 20) / max(np.sqrt(np.mean(clip ** 2)), 1e-12)


def _chunk_worker(tasks, attempt, plain_indexes, out_dir, real_noise_paths, hang_path, clip_samples, conn):
    """Renders one chunk in a fresh process, reporting progress to the pool (see espeak.FreshProcessPool)."""
    current = tasks[0]
    try:
        engine = espeak.Engine() if any(isinstance(t, ClipTask) and t.speaker for t in tasks) else None
        bank = generate_noise.NoiseBank(real_noise_paths)
        conn.send(("ready",))
        for index, task in enumerate(tasks):
            current = task
            if attempt == 0 and task.path == hang_path:
                time.sleep(10 ** 6)  # test hook: behave like a hung eSpeak call
            path = os.path.join(out_dir, task.path)
            if isinstance(task, NoiseTask):
                generate_noise.write_noise_file(path, task.kind, task.duration_s, generate_noise.DEFAULT_RMS,
                                                np.random.default_rng(task.seed))
            elif task.speaker is None:
                audio.write_wav(path, render_silence(task, bank, clip_samples))
            else:
                audio.write_wav(path, render_speech(engine, task, bank, clip_samples, plain=index in plain_indexes))
            conn.send(("done", index))
        conn.send(("finished", time.process_time()))  # a forked child's CPU clock starts at zero
    except Exception:  # reported to the parent, which stops the run with this message
        conn.send(("error", f"{current.path}: {traceback.format_exc()}"))
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------
# Planning (the parent process): every choice made here, from the seed, before any audio

def _is_word(word):
    """Letters of any script; an apostrophe or hyphen only between letters ("don't", "porte-clé")."""
    inner = word.replace("'", "").replace("-", "")
    return inner.isalpha() and word[0].isalpha() and word[-1].isalpha() and "''" not in word and "--" not in word


def parse_words(text):
    """'v1', 'v2' or a comma list of words or phrases, lower-cased, whitespace collapsed (labels:
    labels.phrase_label)."""
    words = {"v1": labels.WORDS_V1, "v2": labels.WORDS_V2}.get(text.strip().lower())
    words = words or tuple(" ".join(w.lower().split()) for w in text.split(",") if w.strip())
    bad = [w for w in words if not all(_is_word(part) for part in w.split())]
    if not words or bad or len({labels.phrase_label(w) for w in words}) != len(words):
        raise cli.UserError(f"--words must be 'v1', 'v2' or a comma list of distinct words or phrases (letters, "
                            f"spaces between words, ' or - inside a word), got {text!r}"
                            + (f": not words: {bad}" if bad else ""))
    return words


@lru_cache(maxsize=1)
def _planning_engine():
    """The parent's eSpeak engine (phonemes, voices, checks); initialised once per process. The parent's
    calls leave the workers' bytes alone: they are forked from a server that never synthesised."""
    return espeak.Engine()


def _seconds(samples, sample_rate):
    """Length of the sound in eSpeak's output, silence trimmed (0 for silence)."""
    return len(_trim(audio.int16_to_float(samples))) / sample_rate if np.any(samples) else 0.0


def _keyword_seconds(engine, voice, vocab_texts, keywords):
    """{label: seconds} of each keyword said by `voice` at the slowest speakers' rate (SLOWEST_WPM)."""
    return {label: _seconds(engine.synthesize(vocab_texts[label], voice=voice, rate_wpm=SLOWEST_WPM),
                            engine.sample_rate) for label in keywords}


def auto_clip_ms(keyword_seconds):
    """The shortest clip length (AUTO_CLIP_STEP_MS steps from audio.CLIP_MS, at most the longest clip
    training takes) whose SPEECH_SHARE holds every keyword at the slowest rate: nobody speeds up."""
    longest_ms = 1000 * max(keyword_seconds.values(), default=0.0) / SPEECH_SHARE
    steps = max(0, math.ceil((longest_ms - audio.CLIP_MS) / AUTO_CLIP_STEP_MS))
    return min(audio.CLIP_MS + steps * AUTO_CLIP_STEP_MS, settings.CLIP_DURATION_MS_RANGE[1])


def _warn_long_keywords(keyword_seconds, vocab_texts, clip_ms):
    """Logs the keywords that the slowest voices must speed up more than MAX_SPEED_UP to fit a clip."""
    room_s = SPEECH_SHARE * clip_ms / 1000
    for label, seconds in keyword_seconds.items():
        if seconds > MAX_SPEED_UP * room_s:
            log.warning("keyword %r lasts %.2f s at %d wpm: the slowest speakers say it %.1fx faster to fit the "
                        "%g s clip (a longer --clip_ms, or auto, gives it room)", vocab_texts[label], seconds,
                        SLOWEST_WPM, seconds / room_s, clip_ms / 1000)


def _readable_accents(engine, native, candidates, texts):
    """The candidate voices that say every keyword text aloud and not much longer than the native voice
    (a voice that spells the letters of an unknown script is no accent)."""
    native_s = [_seconds(engine.synthesize(t, voice=native), engine.sample_rate) for t in texts]
    readable = []
    for voice in candidates:
        spoken = [engine.synthesize(t, voice=voice) for t in texts]
        if all(np.max(np.abs(x), initial=0) >= phonemes.AUDIBLE_PEAK and _seconds(x, engine.sample_rate) < 2 * n + 0.2
               for x, n in zip(spoken, native_s)):
            readable.append(voice)
    return tuple(readable)


def _voices(engine, language):
    """(the language's voice key, base voices, accent voices): the family, the language's own voice as
    often as all the others together (it is what was asked for), each other once."""
    voices = engine.voices()
    voice, family = phonemes.resolve_language(voices, language)
    base = (voice.key,) * max(1, len(family) - 1) + tuple(v.key for v in family[1:])
    return voice.key, base, tuple(v.key for v in phonemes.accent_voices(voices, family))


def _other_word_pool(language, rng):
    """(label, text) of ordinary words in drawing order: English vocabulary first, then numbers eSpeak
    reads in the language (their folders `number_<n>`: the API gives no spelled text)."""
    numbers = [(f"number_{n}", str(n)) for n in phonemes.number_pool(rng)]
    if phonemes.primary(language) != "en":
        return numbers
    return [(w, w) for w in rng.permutation(vocabulary.TRAINING_NEGATIVE_WORDS)] + numbers


def plan_vocabulary(args, phrases):
    """Labels, texts and voices of the corpus; near misses and other words drawn from [--seed, 7].

    Without --language, a list holding command words is a Speech Commands corpus as before (keywords:
    its command words, Kaggle labels); any other list, or any list with --language, is all keywords.
    """
    words = tuple(labels.phrase_label(p) for p in phrases)
    texts = dict(zip(words, phrases))
    speech_commands = args.language is None and any(w in labels.COMMAND_WORDS for w in words)
    keywords = tuple(w for w in labels.COMMAND_WORDS if w in words) if speech_commands else words
    auto = args.clip_ms == AUTO
    if speech_commands and not (args.near_misses or args.other_words or auto):  # no eSpeak in the parent
        return Vocabulary("en", words, texts, keywords, True, {}, (), UNSEEN_WORDS, clip_ms=args.clip_ms)
    engine, language = _planning_engine(), args.language or "en"
    voice, base, accents = _voices(engine, args.language) if args.language else ("en-us", BASE_VOICES, ())
    rng = np.random.default_rng([args.seed, VOCABULARY_STREAM])
    seconds = _keyword_seconds(engine, voice, texts, keywords) if auto or not speech_commands else {}
    clip_ms = auto_clip_ms(seconds) if auto else args.clip_ms
    if auto:
        log.info("--clip_ms auto: %d ms clips (the longest keyword lasts %.2f s at %d wpm)", clip_ms,
                 max(seconds.values(), default=0.0), SLOWEST_WPM)
    if not speech_commands:
        _warn_long_keywords(seconds, texts, clip_ms)
        accents = _readable_accents(engine, voice, accents, [texts[k] for k in keywords])
    misses = {}
    if args.near_misses:
        misses = phonemes.plan_near_misses(engine, voice, texts, keywords, args.near_misses, rng)
    texts.update({m["folder"]: m["phonemes"] for found in misses.values() for m in found})
    pool = _other_word_pool(language, rng)
    others = phonemes.plan_other_words(engine, voice, pool, [texts[k] for k in keywords], set(texts), args.other_words)
    texts.update(others)
    unseen = [(w, w) for w in UNSEEN_WORDS] if phonemes.primary(language) == "en" else pool
    unseen = [(label, text) for label, text in unseen if label not in texts][:len(UNSEEN_WORDS)]
    texts.update(unseen)
    return Vocabulary(args.language or "en", words, texts, keywords, speech_commands, misses,
                      tuple(label for label, _ in others), tuple(label for label, _ in unseen), base, accents,
                      clip_ms)


def _hex_ids(rng, count, digits):
    """`count` distinct random ids of `digits` hex digits, in drawing order."""
    ids = {}
    while len(ids) < count:
        ids.setdefault(f"{int(rng.integers(16 ** digits)):0{digits}x}")
    return list(ids)


def _split_speakers(speakers, validation_percentage, testing_percentage):
    """Speaker id -> 'training' | 'validation' | 'testing' (speakers come in random order)."""
    counts = [round(len(speakers) * p / 100) for p in (validation_percentage, testing_percentage)]
    counts = [max(c, 1) if p > 0 and len(speakers) >= 3 else c  # tiny corpora still get each split
              for c, p in zip(counts, (validation_percentage, testing_percentage))]
    names = ["validation"] * counts[0] + ["testing"] * counts[1]
    return {s.speaker_id: names[i] if i < len(names) else "training" for i, s in enumerate(speakers)}


def _plan_training(rng, speakers, vocab, accented):
    """Clip tasks of the train/ speakers: each says a subset of the words, keywords more often and repeated
    (an accented speaker none of vocab.native_only)."""
    clips, keywords, native_only = [], set(vocab.keywords), vocab.native_only
    for speaker in speakers:
        words = [w for w in vocab.all_words if speaker.speaker_id not in accented or w not in native_only]
        diligence = rng.uniform(0.5, 1.0)
        said = [(w, 1 + int(rng.random() < 0.3) + int(rng.random() < 0.1)) if w in keywords
                else (w, 1 + int(rng.random() < 0.1)) for w in words
                if rng.random() < diligence * (1.0 if w in keywords else 0.7)]
        said = said or [(str(rng.choice(words)), 1)]
        clips += [ClipTask(f"train/audio/{w}/{speaker.speaker_id}_nohash_{n}.wav", w, speaker,
                           int(rng.integers(2 ** 31)), full_length=False, text=vocab.texts[w])
                  for w, repeats in said for n in range(repeats)]
    for word in sorted(set(vocab.all_words) - {c.word for c in clips}):  # every word folder gets a clip
        able = [s for s in speakers if s.speaker_id not in accented or word not in native_only] or speakers
        speaker = able[int(rng.integers(len(able)))]
        clips.append(ClipTask(f"train/audio/{word}/{speaker.speaker_id}_nohash_0.wav", word, speaker,
                              int(rng.integers(2 ** 31)), full_length=False, text=vocab.texts[word]))
    return clips


def _test_words(vocab):
    """(commands, other words, unseen words) the test set says; a Speech Commands corpus as the Kaggle test."""
    if vocab.speech_commands:
        commands = [w for w in labels.COMMAND_WORDS if w in vocab.words] or list(labels.COMMAND_WORDS)
        return commands, sorted((set(vocab.words) | set(labels.WORDS_V2)) - set(labels.COMMAND_WORDS)), UNSEEN_WORDS
    others = sorted(set(vocab.all_words) - set(vocab.keywords))
    return list(vocab.keywords), others or list(vocab.unseen), vocab.unseen


def _test_speaker(speakers, index, word, vocab, accented):
    """The index-th speaker in turn; a native one for a native-only word (no draw: the plan keeps its draws)."""
    for step in range(len(speakers)):
        speaker = speakers[(index + step) % len(speakers)]
        if speaker.speaker_id not in accented or word not in vocab.native_only:
            return speaker
    return speakers[index % len(speakers)]


def _plan_test_set(rng, speakers, vocab, num_clips, accented):
    """Kaggle-like test clips: ~9% silence, ~9.5% unknown (30% of them words of no label set), commands
    (the keywords) evenly."""
    commands, others, unseen = _test_words(vocab)
    num_silence, num_unknown = round(0.09 * num_clips), round(0.095 * num_clips)
    num_commands = num_clips - num_silence - num_unknown
    spoken = [commands[i % len(commands)] for i in range(num_commands)]
    spoken += [str(rng.choice(unseen if rng.random() < 0.3 else others)) for _ in range(num_unknown)]
    spoken += [labels.SILENCE_LABEL] * num_silence
    rng.shuffle(spoken)
    clips = []
    for index, (word, name) in enumerate(zip(spoken, _hex_ids(rng, num_clips, 9))):
        speaker = None if word == labels.SILENCE_LABEL else _test_speaker(speakers, index, word, vocab, accented)
        clips.append(ClipTask(f"test/audio/clip_{name}.wav", word, speaker, int(rng.integers(2 ** 31)), True,
                              text=vocab.texts.get(word, word)))
    return clips


def plan_corpus(args, vocab, real_noise_names):
    """Speakers, splits, clip tasks and noise tasks, all drawn from `args.seed`."""
    rng = np.random.default_rng(args.seed)
    sources = list(generate_noise.NOISE_KINDS) + sorted(real_noise_names)
    speakers = [sample_speaker(rng, sid, sources, vocab.base_voices, vocab.accent_voices)
                for sid in _hex_ids(rng, args.speakers, 8)]
    accented = {s.speaker_id for s in speakers if s.voice.split("+")[0] in vocab.accent_voices}
    num_test = round(args.speakers * args.test_speaker_percentage / 100)
    num_test = min(max(1, num_test), args.speakers - 1) if args.test_clips else 0  # both sides non-empty
    splits = _split_speakers(speakers[num_test:], args.validation_percentage, args.testing_percentage)
    splits.update({s.speaker_id: "test_set" for s in speakers[:num_test]})
    clips = _plan_training(rng, speakers[num_test:], vocab, accented)
    test_clips = _plan_test_set(rng, speakers[:num_test], vocab, args.test_clips, accented) if num_test else []
    noise_folder = f"train/audio/{labels.BACKGROUND_NOISE_DIR}"
    noise_tasks = [NoiseTask(f"{noise_folder}/{generate_noise.noise_file_name(kind)}", kind, args.noise_duration_s,
                             int(rng.integers(2 ** 31))) for kind in generate_noise.NOISE_KINDS]
    return speakers, splits, clips, test_clips, noise_tasks


# ---------------------------------------------------------------------------------------------------
# Files

def _real_noise_files(noise_dir, reserved_names):
    """The readable WAV files of --noise_dir (a clear error for a bad one or a clash of names)."""
    if noise_dir is None:
        return []
    if not os.path.isdir(noise_dir):
        raise cli.UserError(f"--noise_dir {noise_dir}: not a folder")
    paths = sorted(os.path.join(noise_dir, n) for n in os.listdir(noise_dir) if n.lower().endswith(".wav"))
    if not paths:
        raise cli.UserError(f"--noise_dir {noise_dir}: no .wav files in it")
    for path in paths:
        if os.path.basename(path) in reserved_names:
            raise cli.UserError(f"{path}: its name clashes with a generated noise file; rename it")
        audio.read_wav(path)  # raises WavError naming the file
    return paths


def _prepare_out(out, overwrite, noise_dir=None):
    """Refuses a non-empty OUT unless --overwrite, which removes only a corpus this script wrote;
    then marks OUT as a corpus in progress."""
    cli.refuse_inputs([os.path.join(out, "train"), os.path.join(out, "test")], [noise_dir])
    if os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise cli.UserError(f"{out} is not empty; pass --overwrite to replace the corpus in it")
        ours = any(os.path.exists(os.path.join(out, name)) for name in (CORPUS_FILE, PARTIAL_MARKER))
        present = [name for name in ("train", "test") if os.path.exists(os.path.join(out, name))]
        if present and not ours:
            raise cli.UserError(f"{out}: holds {present} but no {CORPUS_FILE}: not a corpus of this script, which "
                                "--overwrite would delete; remove them yourself or choose another --out")
        for name in ("train", "test"):
            shutil.rmtree(os.path.join(out, name), ignore_errors=True)
        if os.path.exists(os.path.join(out, CORPUS_FILE)):
            os.remove(os.path.join(out, CORPUS_FILE))
    os.makedirs(out, exist_ok=True)
    cli.write_text(os.path.join(out, PARTIAL_MARKER), "make_synthetic_dataset.py is writing a corpus here\n")


def _remove_leftovers(out):
    """Temporary files of killed workers (a write interrupted before its rename)."""
    for folder, _, names in os.walk(out):
        for name in names:
            if ".wav.tmp" in name:
                os.remove(os.path.join(folder, name))


def _solution_label(vocab, word):
    """solution.csv's label: Kaggle's for a Speech Commands corpus, else the keyword, silence or unknown."""
    if vocab.speech_commands:
        return labels.kaggle_label(word)
    return word if word in vocab.keywords else labels.kaggle_label(labels.SILENCE_LABEL if word == labels.SILENCE_LABEL
                                                                    else labels.UNKNOWN_LABEL)


def write_corpus(args, vocab, real_paths, plan, workers, progress=True):
    """Renders everything planned into args.out, then writes the list files, solution.csv and corpus.json."""
    speakers, splits, clips, test_clips, noise_tasks = plan
    for folder in sorted({os.path.dirname(t.path) for t in clips + test_clips + noise_tasks} | {"test"}):
        os.makedirs(os.path.join(args.out, folder), exist_ok=True)
    noise_folder = os.path.join(args.out, "train", "audio", labels.BACKGROUND_NOISE_DIR)
    copies = [os.path.join(noise_folder, os.path.basename(p)) for p in real_paths]
    for source, copy in zip(real_paths, copies):
        cli.write_atomic(copy, lambda tmp, source=source: shutil.copyfile(source, tmp))
    tasks = clips + test_clips
    chunks = [[t] for t in noise_tasks] + [tasks[i:i + CHUNK_CLIPS] for i in range(0, len(tasks), CHUNK_CLIPS)]
    hang_path = os.environ.get(HANG_HOOK_ENV)
    with tqdm(total=sum(map(len, chunks)), unit="file", desc="synthesising", disable=not progress) as bar:
        target_args = (args.out, copies, hang_path, audio.clip_samples(vocab.clip_ms))
        pool = espeak.FreshProcessPool(_chunk_worker, chunks, target_args, workers, args.timeout_s, bar,
                                       preload=("scipy.signal", "kws.data.audio", "kws.data.generate_noise")).run()
    _remove_leftovers(args.out)
    by_split = collections.defaultdict(list)
    for c in clips:
        by_split[splits[c.speaker.speaker_id]].append(c)
    for split in ("validation", "testing"):
        listed = sorted(c.path[len("train/audio/"):] for c in by_split[split])
        cli.write_text(os.path.join(args.out, "train", f"{split}_list.txt"), "".join(f"{p}\n" for p in listed))
    training = sorted((c.path[len("train/"):], c.word) for c in by_split["training"])
    corpus.write_pseudo_labels(os.path.join(args.out, "train", TRAINING_CLIPS_FILE), training)
    rows = sorted(f"{os.path.basename(c.path)},{_solution_label(vocab, c.word)},{c.word}\n" for c in test_clips)
    cli.write_text(os.path.join(args.out, "test", "solution.csv"), "fname,label,word\n" + "".join(rows))
    counts = {"speakers": dict(collections.Counter(splits.values())), "train_clips": len(clips),
              "test_clips": len(test_clips), "noise_files": len(noise_tasks) + len(real_paths)}
    runs.write_json(os.path.join(args.out, CORPUS_FILE), {
        "seed": args.seed, "clip_ms": vocab.clip_ms, "words": list(vocab.words), "language": vocab.language,
        "keywords": list(vocab.keywords),
        "phrases": {w: vocab.texts[w] for w in vocab.words}, "near_misses": vocab.near_misses,
        "other_words": list(vocab.other_words), "counts": counts, "noise_duration_s": args.noise_duration_s,
        "validation_percentage": args.validation_percentage, "testing_percentage": args.testing_percentage,
        "real_noise_files": [os.path.basename(p) for p in real_paths],
        "speaker_settings": [{"split": splits[s.speaker_id], **dataclasses.asdict(s)} for s in speakers]})
    os.remove(os.path.join(args.out, PARTIAL_MARKER))  # corpus.json now says the corpus is ours
    return {**counts, "worker_cpu_s": pool.cpu_s}


AUTO = "auto"  # --clip_ms auto


def _clip_ms_arg(text):
    """--clip_ms: 'auto' or a clip length in ms that training takes (settings.check_clip_duration)."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return settings.check_clip_duration(int(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="corpus folder to create (must be empty or absent); required unless "
                                      "--list_languages")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same flags write the same bytes")
    parser.add_argument("--speakers", type=int, default=300,
                        help="speakers in all, train/ and test/ together (default 300: ~7,600 clips, "
                             "well under a minute on 2 cores)")
    parser.add_argument("--words", default="v2",
                        help="'v1' (30 words), 'v2' (35, default) or a comma list of words or phrases "
                             "(\"lights on\" is the folder lights_on)")
    parser.add_argument("--language",
                        help="eSpeak NG language of the speakers, e.g. de, fr-fr, en-us (default: English, the "
                             "voices of BASE_VOICES); every --words entry is then a keyword")
    parser.add_argument("--list_languages", action="store_true", help="print every eSpeak NG language and exit")
    parser.add_argument("--near_misses", type=int, default=0,
                        help="sound-alike _unknown_ words per keyword, edited from its phonemes (default 0)")
    parser.add_argument("--other_words", type=int, default=0,
                        help="ordinary _unknown_ words of the language: English vocabulary, numbers (default 0)")
    parser.add_argument("--clip_ms", type=_clip_ms_arg, default=audio.CLIP_MS,
                        help=f"clip length in ms, a multiple of {settings.CLIP_DURATION_STEP_MS} from "
                             f"{settings.CLIP_DURATION_MS_RANGE[0]} to {settings.CLIP_DURATION_MS_RANGE[1]}, or "
                             f"'{AUTO}': the shortest of 1000, 1250, ... in which the keywords fit at the slowest "
                             f"speakers' own rate (default {audio.CLIP_MS}; corpus.json records it)")
    parser.add_argument("--test_clips", type=int, default=1000, help="clips in test/audio (default 1000; 0: none)")
    parser.add_argument("--test_speaker_percentage", type=float, default=10.0,
                        help="share of the speakers kept for test/ only (default 10)")
    parser.add_argument("--validation_percentage", type=float, default=corpus.SPLIT_PERCENTAGE,
                        help="share of the train/ speakers listed in validation_list.txt "
                             f"(default {corpus.SPLIT_PERCENTAGE:g}, the training split's)")
    parser.add_argument("--testing_percentage", type=float, default=corpus.SPLIT_PERCENTAGE,
                        help="share of the train/ speakers listed in testing_list.txt "
                             f"(default {corpus.SPLIT_PERCENTAGE:g})")
    parser.add_argument("--noise_dir", help="folder of real noise WAVs: copied to _background_noise_ and mixed in")
    parser.add_argument("--noise_duration_s", type=float, default=60.0,
                        help="length of each generated background noise file (default 60)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help=f"worker processes (default: the number of cores, {os.cpu_count()}); "
                             "the output does not depend on it")
    parser.add_argument("--timeout_s", type=float, default=20.0,
                        help="a worker silent for this long is killed and its chunk rerun (default 20)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the corpus in a non-empty OUT (deletes OUT/train, OUT/test, OUT/corpus.json)")
    parser.add_argument("--dry_run", action="store_true", help="plan and print the counts, write nothing")
    return parser


def _check_args(parser, args):
    if args.out is None:
        parser.error("the following arguments are required: --out")
    if args.near_misses < 0 or args.other_words < 0:
        parser.error("--near_misses and --other_words must be >= 0")
    for name in ("validation_percentage", "testing_percentage", "test_speaker_percentage"):
        if not 0 <= getattr(args, name) < 100:
            parser.error(f"--{name} must be in [0, 100), got {getattr(args, name)}")
    if args.validation_percentage + args.testing_percentage >= 100:
        parser.error("--validation_percentage plus --testing_percentage must be below 100")
    if args.speakers < (2 if args.test_clips else 1) or args.test_clips < 0:
        parser.error(f"need --speakers >= 2 (1 with --test_clips 0) and --test_clips >= 0, "
                     f"got {args.speakers} and {args.test_clips}")
    if args.workers < 1 or args.timeout_s <= 0 or args.noise_duration_s <= 0:
        parser.error("--workers must be >= 1, --timeout_s and --noise_duration_s positive")


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_languages:
        print("\n".join(phonemes.language_lines(_planning_engine().voices())))
        return {"languages": len(_planning_engine().voices())}
    _check_args(parser, args)
    try:
        phrases = parse_words(args.words)
        reserved = {generate_noise.noise_file_name(kind) for kind in generate_noise.NOISE_KINDS}
        real_paths = _real_noise_files(args.noise_dir, reserved)
        vocab = plan_vocabulary(args, phrases)
    except ValueError as e:
        parser.error(str(e))
    plan = plan_corpus(args, vocab, [os.path.basename(p) for p in real_paths])
    words = vocab.all_words
    num_files = sum(len(part) for part in plan[2:]) + len(real_paths)
    if args.dry_run:
        print(f"would write {len(plan[2])} training clips of {len(words)} words, {len(plan[3])} test clips and "
              f"{len(plan[4]) + len(real_paths)} noise files from {args.speakers} speakers into {args.out}")
        return {"train_clips": len(plan[2]), "test_clips": len(plan[3]), "files": num_files}
    try:
        _prepare_out(args.out, args.overwrite, args.noise_dir)
    except ValueError as e:
        parser.error(str(e))
    start = time.monotonic()
    summary = write_corpus(args, vocab, real_paths, plan, args.workers)
    elapsed_s = time.monotonic() - start
    clips = summary["train_clips"] + summary["test_clips"]
    print(f"wrote {summary['train_clips']} training clips, {summary['test_clips']} test clips and "
          f"{summary['noise_files']} noise files ({summary['speakers']} speakers) into {args.out} "
          f"in {elapsed_s:.1f} s ({clips / elapsed_s:.0f} clips/s, {args.workers} workers, "
          f"{1000 * summary['worker_cpu_s'] / max(clips, 1):.1f} ms of worker CPU per clip)")
    return {**summary, "elapsed_s": elapsed_s, "clips_per_s": clips / elapsed_s}

