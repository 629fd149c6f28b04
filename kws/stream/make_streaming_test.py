"""Builds a streaming test: minutes of background noise with words placed at random, and their labels.

Command line:

    python make_streaming_test.py --clips ../shared/data/speech_commands_real_test \\
        --noise ../shared/data/speech_commands_real/_background_noise_ --minutes 60 --seed 0 --out data/stream60
    python make_streaming_test.py --clips data/train --split training --reuse \\
        --noise data/train/_background_noise_ --minutes 30 --seed 1 --out data/mining   # training clips, reused
    python make_streaming_test.py --clips T --other_clips data/other_words --negatives_only \\
        --sentence_probability 0.5 --noise_only_fraction 0.2 --noise N --minutes 180 --out data/negatives

Reads:
- `--clips`: labelled one-second clips: a test folder with `solution.csv` (`fname,label,word`,
  clips in `audio/` or beside it; silence rows are skipped), or a corpus folder in any layout
  corpus.py reads, of which the `--split` (default: testing) is used. Command words are
  `--keywords` (default: the ten Kaggle words); every other word is an "other" word. Not needed
  with `--negatives_only` and `--other_clips`.
- `--other_clips DIR [DIR ...]` (optional): more folders of other words, of the same two kinds; every
  clip of a corpus folder is used (all splits). Clips of command words there are dropped (logged).
- `--noise`: a folder of noise recordings (WAV, any format), e.g. a dataset's `_background_noise_`.

Writes into `--out` (created; each file atomically; existing ones are replaced only with
`--overwrite`, and `--out` must not hold the clips or the noise):
- `stream.wav`: 16 kHz 16-bit mono, `--minutes` long, or shorter when a pool of clips ran out
  (see "ended_by" below): then it ends 1.5 s after the last word's spoken part;
- `labels.csv`: `label,start_s,end_s` of every command word placed, in time order (the spoken part
  of the clip, audio.speech_span: its frames within 35 dB of the loudest and 8 dB above its
  quietest tenth); only the header with `--negatives_only`;
- `words.csv`: every word placed, other words included:
  `word,label,start_s,end_s,clip,snr_db,speed,source` (label: the command word or `_unknown_`;
  clip: its path relative to its folder's audio root, e.g. `yes/0a1b_nohash_0.wav`; source: the
  `--clips` or `--other_clips` argument it came from);
- `stream.json`: "minutes" (the real length), "minutes_asked", "ended_by" ("minutes", "command
  clips" or "other clips": what ended the stream), "keyword_free_minutes" (the time outside every
  [start_s, end_s + 1.0] of a command word, where a detection can only be a false alarm: the base of
  a false-alarm rate), "clips_used_more_than_once" (0 without `--reuse`), "words_by_source"
  ({folder: words placed}), counts of words and clips, the noise-only stretches, the SNRs reached
  and the settings.

How the stream is made (all draws from one generator seeded by `--seed`: the same arguments give
the same bytes):
- the noise bed: segments of 5-20 s of random noise recordings from random positions, each
  scaled to an RMS drawn log-uniformly from `--noise_rms` (default 0.003-0.03), joined with
  0.25 s crossfades;
- clips: each clip is used at most once, drawn at random from its pool (command words of `--clips`;
  other words of `--clips` and `--other_clips` together, the other words of `--clips` first, so
  that every one of them is heard even when the stream ends before the pool does: they are the
  real ones where `--other_clips` pads with synthetic words); the stream ends at `--minutes` or when a
  pool it needs runs out, whichever comes first. `--reuse` draws instead in shuffled rounds that
  use every clip before any is used again, and the stream always runs for `--minutes`;
- words one after another with a gap drawn uniformly from `--gap_s` (default 0.25-3.5 s: ~1,480
  words an hour, the rate of the reference streams) between the end of one spoken part and the
  start of the next; each word is a command word with probability `--command_fraction` (default
  1/3: command words are a minority, as in real talk), never with `--negatives_only`; played at a
  speed drawn from `--speed_range` (default 0.92-1.08: a reused clip is never exactly the same
  sound), cut to its spoken part plus 30 ms faded in and out, and scaled to a signal-to-noise ratio
  drawn uniformly from `--snr_db` (default 5-25 dB) over the noise bed beneath it (lower where the
  word would clip: words.csv has the SNR reached);
- sentences: an other word starts, with probability `--sentence_probability` (default 0), a run of
  3-10 other words (count uniform), each at its own speed, all at one SNR, with gaps drawn from
  `--sentence_gap_s` (default 0.05-0.35 s) inside the run and a `--gap_s` gap after it;
- noise-only stretches: with `--noise_only_fraction F` (default 0), after each word or sentence a
  stretch of 10-60 s (uniform, mean 35 s) without words follows with probability
  F / (1 - F) * w / 35, w the mean time a word or sentence and its gap have taken so far (capped at
  1): the stretches then take about F of the stream's time (in expectation: they are few and long,
  so a short stream's share varies). stream.json has what they took.
"""

import argparse
import csv
import json
import logging
import math
import os
import wave

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets

log = logging.getLogger(__name__)

PAD_SAMPLES = 480  # 30 ms kept around the spoken part ...
FADE_SAMPLES = 160  # ... of which the outer 10 ms fade
SEGMENT_S = (5.0, 20.0)
CROSSFADE_SAMPLES = 4000  # 0.25 s
PEAK_LIMIT = 0.9
SENTENCE_WORDS = (3, 10)
NOISE_ONLY_S = (10.0, 60.0)
END_AFTER_LAST_WORD_S = 1.5  # a pool ran out: the spotter's 1 s window and the scorer's 1 s see the last word
KEYWORD_TAIL_S = 1.0  # score_streaming.py's tolerance: a detection up to 1 s after a command word may be a hit
POOL_NAMES = {"command": "command clips", "other": "other clips"}
WAV_CHUNK_SAMPLES = 1 << 20  # stream.wav is written in blocks: a 3-hour stream needs no int16 copy at once


def test_folder_clips(folder):
    """[(key, path, word)] of a test folder's solution.csv (key: the path in its audio folder), silence excluded."""
    solution = os.path.join(folder, "solution.csv")
    audio_dir = corpus.test_wav_folder(folder)
    with open(solution, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"fname", "word"} <= set(reader.fieldnames):
            raise cli.UserError(f"{solution}: expected the header fname,label,word, found {reader.fieldnames}")
        rows = [(os.path.join(audio_dir, row["fname"]), row["word"].strip()) for row in reader]
    missing = [path for path, _ in rows if not os.path.isfile(path)]
    if missing:
        raise cli.UserError(f"{solution}: {len(missing)} listed clips do not exist, e.g. {missing[:3]}")
    return sorted((os.path.relpath(path, audio_dir).replace(os.sep, "/"), path, word) for path, word in rows
                  if word and word != label_sets.SILENCE_LABEL)


def corpus_clips(folder, split):
    """[(key, path, word)] of a corpus folder's split (list files, else the speaker hash); every split: None."""
    index = corpus.index_folder(folder)
    return sorted((key, path, word) for key, path, word, clip_split in index.clips if split in (None, clip_split))


def find_clips(folder, split, what="clips"):
    """[(key, path, word)] of a test folder or of a corpus folder's split (None: all of them)."""
    if not os.path.isdir(folder):
        raise cli.UserError(f"{folder}: {what} folder not found")
    clips = test_folder_clips(folder) if os.path.isfile(os.path.join(folder, "solution.csv")) \
        else corpus_clips(folder, split)
    if not clips:
        raise cli.UserError(f"{folder}: no labelled word clips (a test folder with solution.csv, or a corpus "
                            f"with {f'a {split} split' if split else 'word folders'})")
    return clips


def gather_pools(args):
    """{"command": [...], "other": [...]} of (source, key, path, word) clips from --clips and --other_clips."""
    sources = [*([args.clips] if args.clips else []), *args.other_clips]
    seen = {}
    for folder in sources:
        real = os.path.realpath(folder)
        if real in seen:
            raise cli.UserError(f"{folder}: given twice (also as {seen[real]}); each folder's clips are used once")
        seen[real] = folder
    keywords = set(args.keywords)
    clips = [(args.clips, *clip) for clip in find_clips(args.clips, args.split)] if args.clips else []
    pools = {"command": [c for c in clips if c[3] in keywords], "other": [c for c in clips if c[3] not in keywords]}
    for folder in args.other_clips:
        found = find_clips(folder, None, "--other_clips")
        other = [(folder, *clip) for clip in found if clip[2] not in keywords]
        if not other:
            raise cli.UserError(f"{folder}: --other_clips folder holds only command-word clips ({len(found)})")
        if len(other) < len(found):
            log.info("%s: %d clips of command words dropped", folder, len(found) - len(other))
        log.info("%s: %d other-word clips", folder, len(other))
        pools["other"] += other
    if args.negatives_only:
        if not pools["other"]:
            raise cli.UserError(f"--negatives_only: no other words in {args.clips or 'the --other_clips folders'}"
                                + ("" if args.other_clips else " and no --other_clips given"))
        pools["command"] = []
        return pools
    empty = [kind for kind, pool in pools.items() if not pool]
    if empty:
        raise cli.UserError(f"{args.clips}: no {' and no '.join(empty)} words among its {len(clips)} clips"
                            f"{' (nor in --other_clips)' if 'other' in empty and args.other_clips else ''}")
    return pools


def read_noise(folder):
    """[float32 recordings] of the WAVs in a folder (unreadable or silent ones skipped, logged)."""
    if not os.path.isdir(folder):
        raise cli.UserError(f"{folder}: noise folder not found")
    noise = []
    for name in sorted(n for n in os.listdir(folder) if n.lower().endswith(".wav")):
        try:
            samples = audio.read_wav(os.path.join(folder, name))
        except audio.WavError as e:
            log.warning("noise file skipped: %s", e)
            continue
        if len(samples) >= audio.SPEECH_FRAME_SAMPLES and np.sqrt(np.mean(samples ** 2)) > 1e-5:
            noise.append(samples)
    if not noise:
        raise cli.UserError(f"{folder}: no readable, non-silent noise WAV files")
    return noise


def change_speed(samples, factor):
    """`samples` played `factor` times faster (pitch follows), by linear interpolation."""
    positions = np.arange(0, len(samples) - 1, factor)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def noise_bed(noise, total_samples, rms_range, rng):
    """Segments of random recordings at random levels, crossfaded, `total_samples` long (float32)."""
    bed = np.zeros(total_samples + CROSSFADE_SAMPLES, np.float32)
    ramp = np.linspace(0.0, 1.0, CROSSFADE_SAMPLES, dtype=np.float32)
    position = 0
    while position < total_samples:
        recording = noise[rng.integers(len(noise))]
        length = int(rng.uniform(*SEGMENT_S) * audio.SAMPLE_RATE) + CROSSFADE_SAMPLES
        start = int(rng.integers(len(recording)))
        segment = np.resize(np.roll(recording, -start), length)  # wraps a recording shorter than the segment
        level = math.exp(rng.uniform(math.log(rms_range[0]), math.log(rms_range[1])))
        segment = segment * np.float32(level / max(float(np.sqrt(np.mean(segment ** 2))), 1e-9))
        segment[:CROSSFADE_SAMPLES] *= ramp
        segment[-CROSSFADE_SAMPLES:] *= ramp[::-1]
        end = min(position + length, len(bed))
        bed[position:end] += segment[:end - position]
        position += length - CROSSFADE_SAMPLES
    return bed[:total_samples]


class ClipPool:
    """Clips drawn at random, each once (then `draw` gives None), the `first` clips of the list before
    the others; with `reuse`, in shuffled rounds of the whole list: every clip once before any again."""

    def __init__(self, clips, rng, reuse, first=0):
        self.clips, self.rng, self.reuse, self.first, self.order, self.uses = clips, rng, reuse, first, [], {}

    def draw(self):
        if not self.order:
            if not self.clips or (self.uses and not self.reuse):
                return None
            if self.reuse or not self.first:
                self.order = list(self.rng.permutation(len(self.clips)))
            else:  # popped from the end: the first clips come first
                rest = self.first + self.rng.permutation(len(self.clips) - self.first)
                self.order = [*rest, *self.rng.permutation(self.first)]
        clip = self.clips[self.order.pop()]
        self.uses[clip[:2]] = self.uses.get(clip[:2], 0) + 1
        return clip


def prepare_word(path, speed):
    """(samples to place, spoken part's offset in them, its length) of a clip at a speed."""
    clip = change_speed(audio.read_wav(path), speed)
    first, end = audio.speech_span(clip)
    start, stop = max(0, first - PAD_SAMPLES), min(len(clip), end + PAD_SAMPLES)
    piece = clip[start:stop].copy()
    fade = np.linspace(0.0, 1.0, min(FADE_SAMPLES, len(piece) // 2), dtype=np.float32)
    if len(fade):
        piece[:len(fade)] *= fade
        piece[-len(fade):] *= fade[::-1]
    return piece, first - start, end - first


def place_word(stream, position, clip, speed, snr_db, keywords):
    """Adds one clip with its spoken part starting at `position`; its words.csv row, or None if it does not fit."""
    source, key, path, word = clip
    piece, offset, spoken = prepare_word(path, speed)
    start = position - offset
    if start + len(piece) > len(stream):
        return None
    speech_rms = max(float(np.sqrt(np.mean(piece[offset:offset + spoken] ** 2))), 1e-9)
    noise_rms = max(float(np.sqrt(np.mean(stream[position:position + spoken] ** 2))), 1e-9)
    gain = min(noise_rms * 10 ** (snr_db / 20) / speech_rms, PEAK_LIMIT / max(float(np.abs(piece).max()), 1e-9))
    stream[max(start, 0):start + len(piece)] += gain * piece[max(-start, 0):]
    return {"word": word, "label": word if word in keywords else label_sets.UNKNOWN_LABEL,
            "start_s": position / audio.SAMPLE_RATE, "end_s": (position + spoken) / audio.SAMPLE_RATE,
            "clip": key, "snr_db": 20 * math.log10(gain * speech_rms / noise_rms), "speed": speed, "source": source}


def stretch_probability(fraction, units, unit_s):
    """The chance of a noise-only stretch after a word or sentence that makes stretches ~`fraction` of the time."""
    if fraction <= 0 or not units:
        return 0.0
    return min(1.0, fraction / (1 - fraction) * (unit_s / units) / np.mean(NOISE_ONLY_S))


def place_words(stream, pools, args, rng):
    """Adds words to the noise bed in `stream`: (rows of words.csv in time order, what ended the stream,
    [(start_s, end_s)] of the noise-only stretches)."""
    words, stretches, units, unit_s = [], [], 0, 0.0
    keywords = set(args.keywords)
    position = int(rng.uniform(*args.gap_s) * audio.SAMPLE_RATE)
    while True:
        command = not args.negatives_only and rng.random() < args.command_fraction
        kind = "command" if command else "other"
        sentence = not command and args.sentence_probability > 0 and rng.random() < args.sentence_probability
        count = int(rng.integers(SENTENCE_WORDS[0], SENTENCE_WORDS[1] + 1)) if sentence else 1
        unit_start = position
        for i in range(count):  # the draws of a single word in the order of the streams before sentences
            clip = pools[kind].draw()
            if clip is None:
                return words, POOL_NAMES[kind], stretches
            speed = rng.uniform(*args.speed_range)
            snr_db = rng.uniform(*args.snr_db) if i == 0 else snr_db  # one SNR per sentence
            gap_s = rng.uniform(*(args.sentence_gap_s if i < count - 1 else args.gap_s))
            row = place_word(stream, position, clip, speed, snr_db, keywords)
            if row is None:
                return words, "minutes", stretches
            words.append(row)
            position = round(row["end_s"] * audio.SAMPLE_RATE) + int(gap_s * audio.SAMPLE_RATE)
        units, unit_s = units + 1, unit_s + (position - unit_start) / audio.SAMPLE_RATE
        if args.noise_only_fraction > 0 and rng.random() < stretch_probability(args.noise_only_fraction, units, unit_s):
            length = int(rng.uniform(*NOISE_ONLY_S) * audio.SAMPLE_RATE)
            stretches.append((position / audio.SAMPLE_RATE, (position + length) / audio.SAMPLE_RATE))
            position += length


def keyword_free_s(words, duration_s, tail_s=KEYWORD_TAIL_S):
    """Seconds of [0, duration_s] outside every [start_s, end_s + tail_s] of a command word."""
    covered, reach = 0.0, 0.0
    for start, end in sorted((w["start_s"], w["end_s"] + tail_s) for w in words
                             if w["label"] != label_sets.UNKNOWN_LABEL):
        start, end = max(start, reach), min(end, duration_s)
        if end > start:
            covered, reach = covered + end - start, end
    return duration_s - covered


def write_csv(path, header, rows):
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    cli.write_atomic(path, write)


def write_stream(path, stream):
    """stream.wav, 16-bit mono, written block by block (the same bytes as audio.write_wav)."""
    def write(tmp):
        with wave.open(tmp, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(audio.SAMPLE_RATE)
            for start in range(0, len(stream), WAV_CHUNK_SAMPLES):
                w.writeframes(audio.float_to_int16(stream[start:start + WAV_CHUNK_SAMPLES]).astype("<i2").tobytes())
    cli.write_atomic(path, write)


def summary(args, words, pools, ended_by, stretches, duration_s):
    commands = [w for w in words if w["label"] != label_sets.UNKNOWN_LABEL]
    snrs = np.array([w["snr_db"] for w in words])
    uses = [n for pool in pools.values() for n in pool.uses.values()]
    reuse = {kind: {"clips": len(pool.clips), "used": len(pool.uses),
                    "max_uses": max(pool.uses.values(), default=0)} for kind, pool in pools.items()}
    stretch_s = sum(max(0.0, min(end, duration_s) - start) for start, end in stretches)
    return {"seed": args.seed, "minutes": duration_s / 60, "minutes_asked": args.minutes, "ended_by": ended_by,
            "keyword_free_minutes": keyword_free_s(words, duration_s) / 60,
            "clips": args.clips, "other_clips": args.other_clips, "noise": args.noise,
            "words": len(words), "command_words": len(commands), "other_words": len(words) - len(commands),
            "command_words_by_label": {k: sum(w["label"] == k for w in commands) for k in args.keywords},
            "words_by_source": {s: sum(w["source"] == s for w in words) for s in [args.clips, *args.other_clips] if s},
            "clips_used_more_than_once": sum(n > 1 for n in uses), "clip_pools": reuse,
            "noise_only": {"stretches": sum(start < duration_s for start, _ in stretches),
                           "minutes": stretch_s / 60},
            "snr_db": {"min": float(snrs.min()), "median": float(np.median(snrs)),
                       "max": float(snrs.max())} if len(words) else None,
            "settings": {k: getattr(args, k) for k in (
                "command_fraction", "gap_s", "snr_db", "noise_rms", "speed_range", "split", "keywords", "reuse",
                "other_clips", "sentence_probability", "sentence_gap_s", "noise_only_fraction", "negatives_only")}}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=None,
                        help="test folder with solution.csv, or a corpus folder (required unless --negatives_only "
                             "with --other_clips)")
    parser.add_argument("--other_clips", nargs="+", default=[], metavar="DIR",
                        help="more folders of other (non-command) words, test or corpus folders, every split; "
                             "their command-word clips are dropped (default: none)")
    parser.add_argument("--noise", required=True, help="folder of noise recordings (WAV)")
    parser.add_argument("--minutes", type=float, required=True,
                        help="length of the stream in minutes; without --reuse the most, as it ends when a pool "
                             "of clips runs out")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse clips in shuffled rounds and always fill --minutes (default: each clip once)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    parser.add_argument("--out", required=True, help="output folder (stream.wav, labels.csv, words.csv, stream.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier stream in --out")
    parser.add_argument("--split", default="testing", choices=corpus.SPLITS,
                        help="split of a corpus folder given as --clips to take clips from (default: testing)")
    parser.add_argument("--keywords", nargs="+", default=list(label_sets.COMMAND_WORDS),
                        help="command words (default: the ten Kaggle words)")
    parser.add_argument("--command_fraction", type=float, default=1 / 3,
                        help="probability that a word is a command word (default: 1/3)")
    parser.add_argument("--negatives_only", action="store_true",
                        help="no command words at all: every word from the other-word pools; labels.csv holds "
                             "only its header (default: off)")
    parser.add_argument("--gap_s", type=float, nargs=2, default=[0.25, 3.5], metavar=("MIN", "MAX"),
                        help="pause between words in seconds, uniform (default: 0.25 3.5)")
    parser.add_argument("--sentence_probability", type=float, default=0.0,
                        help="probability that an other word starts a sentence of 3-10 other words (default: 0)")
    parser.add_argument("--sentence_gap_s", type=float, nargs=2, default=[0.05, 0.35], metavar=("MIN", "MAX"),
                        help="pause between the words of a sentence in seconds, uniform (default: 0.05 0.35)")
    parser.add_argument("--noise_only_fraction", type=float, default=0.0,
                        help="share of the stream's time left as noise-only stretches of 10-60 s (default: 0)")
    parser.add_argument("--snr_db", type=float, nargs=2, default=[5.0, 25.0], metavar=("MIN", "MAX"),
                        help="signal-to-noise ratio of a word (of a sentence) in dB, uniform (default: 5 25)")
    parser.add_argument("--noise_rms", type=float, nargs=2, default=[0.003, 0.03], metavar=("MIN", "MAX"),
                        help="RMS of a noise segment, log-uniform (default: 0.003 0.03)")
    parser.add_argument("--speed_range", type=float, nargs=2, default=[0.92, 1.08], metavar=("MIN", "MAX"),
                        help="playback speed of a word, uniform (default: 0.92 1.08)")
    args = parser.parse_args(argv)
    if args.clips is None and not (args.negatives_only and args.other_clips):
        parser.error("--clips is required (without it: --negatives_only with --other_clips)")
    if args.minutes <= 0 or not 0 < args.command_fraction < 1:
        parser.error("--minutes must be > 0 and --command_fraction in (0, 1)")
    if not 0 <= args.sentence_probability <= 1 or not 0 <= args.noise_only_fraction < 1:
        parser.error("--sentence_probability must be in [0, 1] and --noise_only_fraction in [0, 1)")
    for name in ("gap_s", "sentence_gap_s", "snr_db", "noise_rms", "speed_range"):
        low, high = getattr(args, name)
        if low > high or (name != "snr_db" and low <= 0):
            parser.error(f"--{name} needs MIN <= MAX{'' if name == 'snr_db' else ', both > 0'}")
    return args


OUTPUT_FILES = ("stream.wav", "labels.csv", "words.csv", "stream.json")


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    outputs = [os.path.join(args.out, name) for name in OUTPUT_FILES]
    inputs = [folder for folder in (args.clips, *args.other_clips, args.noise) if folder]
    cli.refuse_inputs([args.out], inputs)
    cli.check_outputs(outputs, inputs, args.overwrite)
    clips, noise = gather_pools(args), read_noise(args.noise)
    rng = np.random.default_rng(args.seed)
    pools = {kind: ClipPool(pool, rng, args.reuse, sum(clip[0] == args.clips for clip in pool))
             for kind, pool in clips.items()}
    stream = noise_bed(noise, int(args.minutes * 60 * audio.SAMPLE_RATE), args.noise_rms, rng)
    words, ended_by, stretches = place_words(stream, pools, args, rng)
    if ended_by != "minutes" and words:
        stream = stream[:round((words[-1]["end_s"] + END_AFTER_LAST_WORD_S) * audio.SAMPLE_RATE)]
    np.clip(stream, -1.0, 1.0, out=stream)
    os.makedirs(args.out, exist_ok=True)
    write_stream(os.path.join(args.out, "stream.wav"), stream)
    commands = [w for w in words if w["label"] != label_sets.UNKNOWN_LABEL]
    write_csv(os.path.join(args.out, "labels.csv"), ["label", "start_s", "end_s"],
              [[w["label"], f"{w['start_s']:.3f}", f"{w['end_s']:.3f}"] for w in commands])
    write_csv(os.path.join(args.out, "words.csv"),
              ["word", "label", "start_s", "end_s", "clip", "snr_db", "speed", "source"],
              [[w["word"], w["label"], f"{w['start_s']:.3f}", f"{w['end_s']:.3f}", w["clip"], f"{w['snr_db']:.1f}",
                f"{w['speed']:.3f}", w["source"]] for w in words])
    info = summary(args, words, pools, ended_by, stretches, len(stream) / audio.SAMPLE_RATE)
    cli.write_text(os.path.join(args.out, "stream.json"), json.dumps(info, indent=2) + "\n")
    print(f"wrote {args.out}/stream.wav ({info['minutes']:.2f} min, ended by {ended_by}): {info['words']} words, "
          f"{info['command_words']} command words in labels.csv, {info['other_words']} other words, "
          f"{info['keyword_free_minutes']:.2f} keyword-free minutes")
    return info

