"""Builds a streaming test: minutes of background noise with words placed at random, and their labels.

Command line:

    python make_streaming_test.py --clips ../shared/data/speech_commands_real_test \\
        --noise ../shared/data/speech_commands_real/_background_noise_ --minutes 60 --seed 0 --out data/stream60
    python make_streaming_test.py --clips data/synth/train --noise data/synth/train/_background_noise_ \\
        --minutes 2 --seed 1 --out data/stream_synth        # a corpus folder: its testing split

Reads:
- `--clips`: labelled one-second clips: a test folder with `solution.csv` (`fname,label,word`,
  clips in `audio/` or beside it; silence rows are skipped), or a corpus folder in any layout
  corpus.py reads, of which the `--split` (default: testing) is used. Command words are
  `--keywords` (default: the ten Kaggle words); every other word is an "other" word.
- `--noise`: a folder of noise recordings (WAV, any format), e.g. a dataset's `_background_noise_`.

Writes into `--out` (created; each file atomically; existing ones are replaced only with
`--overwrite`, and `--out` must not hold the clips or the noise):
- `stream.wav`: 16 kHz 16-bit mono, `--minutes` long;
- `labels.csv`: `label,start_s,end_s` of every command word placed, in time order (the spoken part
  of the clip, audio.speech_span: its frames within 35 dB of the loudest and 8 dB above its
  quietest tenth);
- `words.csv`: every word placed, other words included: `word,label,start_s,end_s,clip,snr_db,speed`
  (label: the command word or `_unknown_`);
- `stream.json`: the settings, counts of words, clips and their reuse, and the SNRs reached.

How the stream is made (all draws from one generator seeded by `--seed`: the same arguments give
the same bytes):
- the noise bed: segments of 5-20 s of random noise recordings from random positions, each
  scaled to an RMS drawn log-uniformly from `--noise_rms` (default 0.003-0.03), joined with
  0.25 s crossfades;
- words one after another with a gap drawn uniformly from `--gap_s` (default 0.25-3.5 s: ~1,480
  words an hour, the rate of the reference streams) between the end of one spoken part and the
  start of the next; each word is a command word with probability `--command_fraction` (default
  1/3: command words are a minority, as in real talk), drawn from its pool in a shuffled order that
  uses every clip before any is used again; played at a speed drawn from `--speed_range` (default
  0.92-1.08: a reused clip is never exactly the same sound), cut to its spoken part plus 30 ms
  faded in and out, and scaled to a signal-to-noise ratio drawn uniformly from `--snr_db` (default
  5-25 dB) over the noise bed beneath it (lower where the word would clip: words.csv has the SNR
  reached).
"""

import argparse
import csv
import json
import logging
import math
import os

import numpy as np

import audio
import cli
import corpus
import labels as label_sets

log = logging.getLogger(__name__)

PAD_SAMPLES = 480  # 30 ms kept around the spoken part ...
FADE_SAMPLES = 160  # ... of which the outer 10 ms fade
SEGMENT_S = (5.0, 20.0)
CROSSFADE_SAMPLES = 4000  # 0.25 s
PEAK_LIMIT = 0.9


def test_folder_clips(folder):
    """[(path, word)] of a test folder's solution.csv, silence excluded."""
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
    return sorted((path, word) for path, word in rows if word and word != label_sets.SILENCE_LABEL)


def corpus_clips(folder, split):
    """[(path, word)] of a corpus folder's split (list files, else the speaker hash)."""
    index = corpus.index_folder(folder)
    return sorted((path, word) for _, path, word, clip_split in index.clips if clip_split == split)


def find_clips(folder, split):
    if not os.path.isdir(folder):
        raise cli.UserError(f"{folder}: clips folder not found")
    clips = test_folder_clips(folder) if os.path.isfile(os.path.join(folder, "solution.csv")) \
        else corpus_clips(folder, split)
    if not clips:
        raise cli.UserError(f"{folder}: no labelled word clips (a test folder with solution.csv, or a corpus "
                         f"with a {split} split)")
    return clips


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
    """Segments of random recordings at random levels, crossfaded, `total_samples` long."""
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
    """Clips drawn in shuffled rounds: every clip once before any clip again."""

    def __init__(self, clips, rng):
        self.clips, self.rng, self.order, self.uses = clips, rng, [], {}

    def draw(self):
        if not self.order:
            self.order = list(self.rng.permutation(len(self.clips)))
        path, word = self.clips[self.order.pop()]
        self.uses[path] = self.uses.get(path, 0) + 1
        return path, word


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


def place_words(stream, pools, args, rng):
    """Adds words to the noise bed in `stream`; returns the rows of words.csv (time order)."""
    words, position = [], int(rng.uniform(*args.gap_s) * audio.SAMPLE_RATE)
    keywords = set(args.keywords)
    while True:
        pool = pools["command"] if rng.random() < args.command_fraction else pools["other"]
        path, word = pool.draw()
        speed, snr_db, gap_s = rng.uniform(*args.speed_range), rng.uniform(*args.snr_db), rng.uniform(*args.gap_s)
        piece, offset, spoken = prepare_word(path, speed)
        start = position - offset
        if start + len(piece) > len(stream):
            break
        spoken_part = piece[offset:offset + spoken]
        speech_rms = max(float(np.sqrt(np.mean(spoken_part ** 2))), 1e-9)
        noise_rms = max(float(np.sqrt(np.mean(stream[position:position + spoken] ** 2))), 1e-9)
        gain = noise_rms * 10 ** (snr_db / 20) / speech_rms
        gain = min(gain, PEAK_LIMIT / max(float(np.abs(piece).max()), 1e-9))
        stream[max(start, 0):start + len(piece)] += gain * piece[max(-start, 0):]
        words.append({"word": word, "label": word if word in keywords else label_sets.UNKNOWN_LABEL,
                      "start_s": position / audio.SAMPLE_RATE, "end_s": (position + spoken) / audio.SAMPLE_RATE,
                      "clip": os.path.basename(path), "snr_db": 20 * math.log10(gain * speech_rms / noise_rms),
                      "speed": speed})
        position += spoken + int(gap_s * audio.SAMPLE_RATE)
    return words


def write_csv(path, header, rows):
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    cli.write_atomic(path, write)


def summary(args, words, pools):
    commands = [w for w in words if w["label"] != label_sets.UNKNOWN_LABEL]
    snrs = np.array([w["snr_db"] for w in words])
    reuse = {kind: {"clips": len(pool.clips), "used": len(pool.uses),
                    "max_uses": max(pool.uses.values(), default=0)} for kind, pool in pools.items()}
    return {"seed": args.seed, "minutes": args.minutes, "clips": args.clips, "noise": args.noise,
            "words": len(words), "command_words": len(commands), "other_words": len(words) - len(commands),
            "command_words_by_label": {k: sum(w["label"] == k for w in commands) for k in args.keywords},
            "clip_pools": reuse, "snr_db": {"min": float(snrs.min()), "median": float(np.median(snrs)),
                                            "max": float(snrs.max())} if len(words) else None,
            "settings": {k: getattr(args, k) for k in ("command_fraction", "gap_s", "snr_db", "noise_rms",
                                                       "speed_range", "split", "keywords")}}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", required=True, help="test folder with solution.csv, or a corpus folder")
    parser.add_argument("--noise", required=True, help="folder of noise recordings (WAV)")
    parser.add_argument("--minutes", type=float, required=True, help="length of the stream in minutes")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    parser.add_argument("--out", required=True, help="output folder (stream.wav, labels.csv, words.csv, stream.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier stream in --out")
    parser.add_argument("--split", default="testing", choices=corpus.SPLITS,
                        help="split of a corpus folder to take clips from (default: testing)")
    parser.add_argument("--keywords", nargs="+", default=list(label_sets.COMMAND_WORDS),
                        help="command words (default: the ten Kaggle words)")
    parser.add_argument("--command_fraction", type=float, default=1 / 3,
                        help="probability that a word is a command word (default: 1/3)")
    parser.add_argument("--gap_s", type=float, nargs=2, default=[0.25, 3.5], metavar=("MIN", "MAX"),
                        help="pause between words in seconds, uniform (default: 0.25 3.5)")
    parser.add_argument("--snr_db", type=float, nargs=2, default=[5.0, 25.0], metavar=("MIN", "MAX"),
                        help="signal-to-noise ratio of a word in dB, uniform (default: 5 25)")
    parser.add_argument("--noise_rms", type=float, nargs=2, default=[0.003, 0.03], metavar=("MIN", "MAX"),
                        help="RMS of a noise segment, log-uniform (default: 0.003 0.03)")
    parser.add_argument("--speed_range", type=float, nargs=2, default=[0.92, 1.08], metavar=("MIN", "MAX"),
                        help="playback speed of a word, uniform (default: 0.92 1.08)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or not 0 < args.command_fraction < 1:
        parser.error("--minutes must be > 0 and --command_fraction in (0, 1)")
    for name in ("gap_s", "snr_db", "noise_rms", "speed_range"):
        low, high = getattr(args, name)
        if low > high or (name != "snr_db" and low <= 0):
            parser.error(f"--{name} needs MIN <= MAX{'' if name == 'snr_db' else ', both > 0'}")
    return args


OUTPUT_FILES = ("stream.wav", "labels.csv", "words.csv", "stream.json")


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    outputs = [os.path.join(args.out, name) for name in OUTPUT_FILES]
    cli.refuse_inputs([args.out], [args.clips, args.noise])
    cli.check_outputs(outputs, [args.clips, args.noise], args.overwrite)
    clips, noise = find_clips(args.clips, args.split), read_noise(args.noise)
    split = {"command": [c for c in clips if c[1] in args.keywords],
             "other": [c for c in clips if c[1] not in args.keywords]}
    empty = [kind for kind, pool in split.items() if not pool]
    if empty:
        raise cli.UserError(f"{args.clips}: no {' and no '.join(empty)} words among its {len(clips)} clips")
    rng = np.random.default_rng(args.seed)
    pools = {kind: ClipPool(pool, rng) for kind, pool in split.items()}
    stream = noise_bed(noise, int(args.minutes * 60 * audio.SAMPLE_RATE), args.noise_rms, rng)
    words = place_words(stream, pools, args, rng)
    os.makedirs(args.out, exist_ok=True)
    audio.write_wav(os.path.join(args.out, "stream.wav"), np.clip(stream, -1.0, 1.0))
    commands = [w for w in words if w["label"] != label_sets.UNKNOWN_LABEL]
    write_csv(os.path.join(args.out, "labels.csv"), ["label", "start_s", "end_s"],
              [[w["label"], f"{w['start_s']:.3f}", f"{w['end_s']:.3f}"] for w in commands])
    write_csv(os.path.join(args.out, "words.csv"), ["word", "label", "start_s", "end_s", "clip", "snr_db", "speed"],
              [[w["word"], w["label"], f"{w['start_s']:.3f}", f"{w['end_s']:.3f}", w["clip"], f"{w['snr_db']:.1f}",
                f"{w['speed']:.3f}"] for w in words])
    info = summary(args, words, pools)
    cli.write_text(os.path.join(args.out, "stream.json"), json.dumps(info, indent=2) + "\n")
    print(f"wrote {args.out}/stream.wav ({args.minutes:g} min): {info['words']} words, "
          f"{info['command_words']} command words in labels.csv, {info['other_words']} other words")
    return info


if __name__ == "__main__":
    cli.run(main)
