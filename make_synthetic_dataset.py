"""Builds a Speech-Commands-style corpus from speech synthesised with eSpeak NG, plus a Kaggle-style test set.

    python make_synthetic_dataset.py --out data/synth [--speakers 300] [--words v2] [--test_clips 1000]
        [--seed 0] [--noise_dir DIR] [--workers N] [--timeout_s 20] [--overwrite] [--dry_run]

Writes (the real dataset's layout, see docs/ARCHITECTURE.md):
- `OUT/train/audio/<word>/<speaker>_nohash_<n>.wav`: 16 kHz mono 16-bit clips of up to 1 s (about
  10% shorter, as in the real data), the word at a random position; some speakers repeat a word.
- `OUT/train/audio/_background_noise_/`: `synthetic_<kind>_noise.wav` for the 5 colours and 6
  everyday kinds of `generate_noise.py` (`--noise_duration_s`, 60 s by default), plus copies of the
  real noise WAVs of `--noise_dir`, which are also mixed under speech and used for silence clips.
- `OUT/train/validation_list.txt`, `testing_list.txt`: paths relative to `audio/`, split by speaker.
- `OUT/train/training_clips.csv`: `path,label` of every training-split clip (paths relative to the
  CSV's folder), the labelled-clip list that `train.py --pseudo_labels ... --pseudo_ratio R` mixes
  into another dataset's training batches (how `experiments/300_real_speech.toml` uses the corpus).
- `OUT/test/audio/clip_<9 hex>.wav`: 1 s clips of speakers absent from train/, anonymous and
  shuffled: the ten command words evenly, ~9.5% other words (some in no label set, as in the
  Kaggle test), ~9% silence (noise only, quiet to loud); `OUT/test/solution.csv` = fname,label,word.
- `OUT/corpus.json`: settings, counts and every speaker's voice and channel; written last, so its
  presence marks a complete corpus.

A speaker is a fixed voice: an English eSpeak voice with a variant (m1-m8, f1-f5, klatt, whisper...),
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

Size: ~540 lines, above the project's ~450, because the speaker model, the corpus plan and the
chunked rendering are one deterministic generator whose bytes depend on all three drawing from
one plan; what stands alone lives elsewhere (espeak.py: synthesis in hang-proof workers,
generate_noise.py: the noise files, corpus.py: the layout and the clip lists).
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

import audio
import cli
import corpus
import espeak
import generate_noise
import labels
import runs


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
    word: str  # the spoken word, or labels.SILENCE_LABEL
    speaker: object  # Speaker, None for silence
    seed: int
    full_length: bool  # False: the clip may be cut short, as ~10% of the real training clips are


@dataclasses.dataclass(frozen=True)
class NoiseTask:
    path: str
    kind: str
    duration_s: float
    seed: int


def sample_speaker(rng, speaker_id, noise_sources):
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
        voice=str(rng.choice(BASE_VOICES)) + (f"+{variant}" if variant else ""),
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


def _speak(engine, speaker, word, rng, plain):
    """The dry word at 16 kHz, silence trimmed; `plain` = the speaker's base voice without jitter.

    A word longer than 0.9 s (slow voices such as Marco or Alicia) is spoken again faster, so that
    it fits in a clip as the real recordings do.
    """
    intonation = speaker.intonation if rng.random() < 0.7 else str(rng.choice(INTONATIONS, p=INTONATION_WEIGHTS))
    rate_factor, pitch, pitch_range = rng.uniform(0.9, 1.12), rng.normal(0, 4), rng.normal(0, 8)
    voice, seed = speaker.voice, int(rng.integers(2 ** 31))
    if plain:
        voice, rate_factor, pitch, pitch_range = speaker.voice.split("+")[0], 1.0, 0.0, 0.0
    rate_wpm, max_samples = speaker.rate_wpm * rate_factor, int(0.9 * audio.CLIP_SAMPLES)
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


def render_speech(engine, task, noise_bank, plain=False):
    """One clip: the word placed in the clip, through the speaker's room, noise and microphone."""
    speaker, rng = task.speaker, np.random.default_rng(task.seed)
    word = _speak(engine, speaker, task.word, rng, plain).astype(np.float64)
    clip_samples = audio.CLIP_SAMPLES
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


def render_silence(task, noise_bank):
    """A noise-only clip: one or two noise sources at a level from very quiet to loud, through a microphone."""
    rng = np.random.default_rng(task.seed)
    sources = [str(rng.choice(noise_bank.sources)) for _ in range(rng.integers(1, 3))]
    clip = sum(rng.uniform(0.2, 1.0) * noise_bank.segment(source, audio.CLIP_SAMPLES, rng) for source in sources)
    lowpass_hz = rng.uniform(3000, 7500) if rng.random() < 0.5 else 0.0
    clip = signal.sosfilt(_mic_filter(round(rng.uniform(30, 200)), round(lowpass_hz), ()), clip)
    return clip * 10 ** (rng.uniform(-62, -10) / 20) / max(np.sqrt(np.mean(clip ** 2)), 1e-12)


def _chunk_worker(tasks, attempt, plain_indexes, out_dir, real_noise_paths, hang_path, conn):
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
                audio.write_wav(path, render_silence(task, bank))
            else:
                audio.write_wav(path, render_speech(engine, task, bank, plain=index in plain_indexes))
            conn.send(("done", index))
        conn.send(("finished", time.process_time()))  # a forked child's CPU clock starts at zero
    except Exception:  # reported to the parent, which stops the run with this message
        conn.send(("error", f"{current.path}: {traceback.format_exc()}"))
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------
# Planning (the parent process): every choice made here, from the seed, before any audio

def parse_words(text):
    """'v1', 'v2' or a comma list of lower-case words."""
    words = {"v1": labels.WORDS_V1, "v2": labels.WORDS_V2}.get(text.strip().lower())
    words = words or tuple(w.strip().lower() for w in text.split(",") if w.strip())
    bad = [w for w in words if not w.isalpha() or not w.isascii()]
    if not words or bad or len(set(words)) != len(words):
        raise cli.UserError(f"--words must be 'v1', 'v2' or a comma list of distinct words of letters a-z, "
                            f"got {text!r}")
    return words


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


def _plan_training(rng, speakers, words):
    """Clip tasks of the train/ speakers: each says a subset of the words, command words more often and repeated."""
    clips = []
    for speaker in speakers:
        diligence = rng.uniform(0.5, 1.0)
        said = [(w, 1 + int(rng.random() < 0.3) + int(rng.random() < 0.1)) if w in labels.COMMAND_WORDS
                else (w, 1 + int(rng.random() < 0.1)) for w in words
                if rng.random() < diligence * (1.0 if w in labels.COMMAND_WORDS else 0.7)]
        said = said or [(str(rng.choice(words)), 1)]
        clips += [ClipTask(f"train/audio/{w}/{speaker.speaker_id}_nohash_{n}.wav", w, speaker,
                           int(rng.integers(2 ** 31)), full_length=False)
                  for w, repeats in said for n in range(repeats)]
    for word in sorted(set(words) - {c.word for c in clips}):  # every word folder gets at least one clip
        speaker = speakers[int(rng.integers(len(speakers)))]
        clips.append(ClipTask(f"train/audio/{word}/{speaker.speaker_id}_nohash_0.wav", word, speaker,
                              int(rng.integers(2 ** 31)), full_length=False))
    return clips


def _plan_test_set(rng, speakers, words, num_clips):
    """Kaggle-like test clips: ~9% silence, ~9.5% unknown (30% of them words of no label set), commands evenly."""
    commands = [w for w in labels.COMMAND_WORDS if w in words] or list(labels.COMMAND_WORDS)
    others = sorted((set(words) | set(labels.WORDS_V2)) - set(labels.COMMAND_WORDS))
    num_silence, num_unknown = round(0.09 * num_clips), round(0.095 * num_clips)
    num_commands = num_clips - num_silence - num_unknown
    spoken = [commands[i % len(commands)] for i in range(num_commands)]
    spoken += [str(rng.choice(UNSEEN_WORDS if rng.random() < 0.3 else others)) for _ in range(num_unknown)]
    spoken += [labels.SILENCE_LABEL] * num_silence
    rng.shuffle(spoken)
    clips = []
    for index, (word, name) in enumerate(zip(spoken, _hex_ids(rng, num_clips, 9))):
        speaker = None if word == labels.SILENCE_LABEL else speakers[index % len(speakers)]
        clips.append(ClipTask(f"test/audio/clip_{name}.wav", word, speaker, int(rng.integers(2 ** 31)), True))
    return clips


def plan_corpus(args, words, real_noise_names):
    """Speakers, splits, clip tasks and noise tasks, all drawn from `args.seed`."""
    rng = np.random.default_rng(args.seed)
    sources = list(generate_noise.NOISE_KINDS) + sorted(real_noise_names)
    speakers = [sample_speaker(rng, sid, sources) for sid in _hex_ids(rng, args.speakers, 8)]
    num_test = round(args.speakers * args.test_speaker_percentage / 100)
    num_test = min(max(1, num_test), args.speakers - 1) if args.test_clips else 0  # both sides non-empty
    splits = _split_speakers(speakers[num_test:], args.validation_percentage, args.testing_percentage)
    splits.update({s.speaker_id: "test_set" for s in speakers[:num_test]})
    clips = _plan_training(rng, speakers[num_test:], words)
    test_clips = _plan_test_set(rng, speakers[:num_test], words, args.test_clips) if num_test else []
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


def write_corpus(args, words, real_paths, plan, workers, progress=True):
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
        pool = espeak.FreshProcessPool(_chunk_worker, chunks, (args.out, copies, hang_path), workers, args.timeout_s,
                                       bar, preload=("scipy.signal", "audio", "generate_noise")).run()
    _remove_leftovers(args.out)
    by_split = collections.defaultdict(list)
    for c in clips:
        by_split[splits[c.speaker.speaker_id]].append(c)
    for split in ("validation", "testing"):
        listed = sorted(c.path[len("train/audio/"):] for c in by_split[split])
        cli.write_text(os.path.join(args.out, "train", f"{split}_list.txt"), "".join(f"{p}\n" for p in listed))
    training = sorted((c.path[len("train/"):], c.word) for c in by_split["training"])
    corpus.write_pseudo_labels(os.path.join(args.out, "train", TRAINING_CLIPS_FILE), training)
    rows = sorted(f"{os.path.basename(c.path)},{labels.kaggle_label(c.word)},{c.word}\n" for c in test_clips)
    cli.write_text(os.path.join(args.out, "test", "solution.csv"), "fname,label,word\n" + "".join(rows))
    counts = {"speakers": dict(collections.Counter(splits.values())), "train_clips": len(clips),
              "test_clips": len(test_clips), "noise_files": len(noise_tasks) + len(real_paths)}
    runs.write_json(os.path.join(args.out, CORPUS_FILE), {
        "seed": args.seed, "words": list(words), "counts": counts, "noise_duration_s": args.noise_duration_s,
        "validation_percentage": args.validation_percentage, "testing_percentage": args.testing_percentage,
        "real_noise_files": [os.path.basename(p) for p in real_paths],
        "speaker_settings": [{"split": splits[s.speaker_id], **dataclasses.asdict(s)} for s in speakers]})
    os.remove(os.path.join(args.out, PARTIAL_MARKER))  # corpus.json now says the corpus is ours
    return {**counts, "worker_cpu_s": pool.cpu_s}


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="corpus folder to create (must be empty or absent)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same flags write the same bytes")
    parser.add_argument("--speakers", type=int, default=300,
                        help="speakers in all, train/ and test/ together (default 300: ~7,600 clips, "
                             "well under a minute on 2 cores)")
    parser.add_argument("--words", default="v2", help="'v1' (30 words), 'v2' (35, default) or a comma list")
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
    _check_args(parser, args)
    try:
        words = parse_words(args.words)
        reserved = {generate_noise.noise_file_name(kind) for kind in generate_noise.NOISE_KINDS}
        real_paths = _real_noise_files(args.noise_dir, reserved)
    except ValueError as e:
        parser.error(str(e))
    plan = plan_corpus(args, words, [os.path.basename(p) for p in real_paths])
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
    summary = write_corpus(args, words, real_paths, plan, args.workers)
    elapsed_s = time.monotonic() - start
    clips = summary["train_clips"] + summary["test_clips"]
    print(f"wrote {summary['train_clips']} training clips, {summary['test_clips']} test clips and "
          f"{summary['noise_files']} noise files ({summary['speakers']} speakers) into {args.out} "
          f"in {elapsed_s:.1f} s ({clips / elapsed_s:.0f} clips/s, {args.workers} workers, "
          f"{1000 * summary['worker_cpu_s'] / max(clips, 1):.1f} ms of worker CPU per clip)")
    return {**summary, "elapsed_s": elapsed_s, "clips_per_s": clips / elapsed_s}


if __name__ == "__main__":
    cli.run(main)
