"""Your own keywords from text, in any eSpeak NG language: one resumable command from words to a spotter.

    python custom_keywords.py --words "lights on,hey pi" --out runs/lights
    python custom_keywords.py --words "licht an,hallo pi" --language de --out runs/licht
    python custom_keywords.py --words "lights on,hey pi" --recordings my_clips --out runs/lights_me
    python custom_keywords.py --words "lights on,hey pi" --negatives data/train --out runs/lights_real
    python custom_keywords.py --words "lights on,hey pi" --front_end openwakeword --out runs/lights_oww
    python spot_keywords.py --model runs/lights/spotter --input long.wav          # then spot them
    python make_submission.py --run_dir runs/lights/run --test_dir clips/ --out labels.csv

Stages (each a script of the project, run as a subprocess, its output shown as it goes):
1. corpus: make_synthetic_dataset.py --words ... --language ... --near_misses --other_words
   --clip_ms auto: the keywords spoken by `--speakers` synthetic voices of the language (and accented
   ones), with sound-alike near misses of each keyword and ordinary words of the language as
   `_unknown_`, in clips long enough for the longest keyword (1 s for short words, more for a long
   phrase: corpus.json's `clip_ms`, the clip length of every later stage);
2. streams: calibration streams of make_streaming_test.py from the corpus's validation speakers
   (keywords among other words; other words and sentences only); with `--negatives` instead of the
   second, real talk without the keywords: `--talk_minutes` of its validation split (where the
   spotter's false alarms are counted) and, for a head, half as long of its training split;
3. training: train.py --experiment 370 --clip_duration_ms <the corpus's clip_ms> (synthetic keywords;
   DS-CNN on MFCC, the real-speech recipe's pre-training style; with `--negatives`, real speech without
   the keywords in NEGATIVES_RATIO of the samples and real noise), then with `--recordings` train.py
   --experiment 371 (fine-tune on them with the synthetic corpus mixed in); with `--front_end
   openwakeword` instead a head on openWakeWord's embeddings (oww_embeddings.py; no train.py run),
   with `--negatives` on the windows of the training talk too, as a spotter hears talk;
4. spotter: make_spotter.py (int8 export through freeze_graph.py, decision rule calibrated for
   false alarms per hour on the streams; the model's window is its clip length). With `--negatives`
   the false alarms are counted on the real talk alone and shared equally among the keywords
   (`--fa_streams`, score_streaming.calibrate_shares): synthetic streams say little of real ones;
5. with `--recordings`: the int8 spotter model and the synthetic-only model label the held-back
   recordings (make_submission_on_rpi.py --model_labels, make_submission.py): accuracy on your voice.

Reads:
- `--words`: comma list of keywords or phrases ("lights on" is trained and reported as `lights_on`);
- `--language`: an eSpeak NG language (`python make_synthetic_dataset.py --list_languages`);
- `--recordings DIR` (optional): a folder per keyword (named as typed or as its label, e.g.
  `lights on/` or `lights_on/`) of your own recordings: WAVs as every script reads them (any PCM or
  float WAV, any rate, several channels averaged), at least one clip per keyword; a folder
  `_unknown_/` may hold words or noises that must not fire. A recording longer than the corpus's
  clip length keeps that length around its spoken part; a shorter one is padded at the end. An
  unreadable file is named in the log and skipped. One clip in five of each keyword (at least one
  when there are two or more; `--held_back_every`) is held back from training to measure the
  accuracy on your voice.
- `--negatives DIR` (optional): real audio without your keywords, as train.py reads a dataset (word
  folders, list files or the speaker-hash split, `_background_noise_/`), e.g. the Speech Commands
  data of download_dataset.py: the training-split clips of its words trained on as `_unknown_` (a
  folder named as a keyword is left out, and said so), its noise files as background and silence.
  Real talk is what a spotter must stay quiet on, and eSpeak's voices are not it: on real speech a
  model trained on synthetic negatives alone calls many real words a keyword. Its validation-split
  clips (list files or the speaker hash; both splits need a clip of another word) are the talk the
  spotter is calibrated on: speakers it never trained on.

Writes `--out` R:
- `R/corpus/` (the synthetic corpus), `R/streams/words/`, `R/streams/negatives/` (calibration;
  with --negatives `R/streams/talk/` instead of the second, and for a head `R/streams/training_talk/`);
- `R/run/`: the run folder of the final model (train.py's layout); with `--recordings`,
  `R/pretrain/` is the synthetic-only run it was fine-tuned from. With `--front_end openwakeword`
  instead `R/head/`: head.tflite, head_labels.txt, head_embeddings.json (oww_embeddings.export_head)
  and head.json (its clips, talk windows, epochs and validation accuracy); with `--recordings`, `R/head_synthetic/`
  is the head trained without them (a head trains in a minute: retrained, not fine-tuned). Label
  clips with `make_submission_on_rpi.py --model R/head/head.tflite --model_labels`;
- `R/negatives/`: `clips.csv` (path,label of the `--negatives` clips trained on), `audio/_background_noise_/`
  (links to its noise files), `negatives.json` (counts, folders left out);
- `R/recordings/`: your clips as WAVs of the clip length (`audio/<label>/`), `training_clips.csv` (the
  clips trained on), `heldback/` (the held-back clips) and `heldback.csv` (fname,label);
- `R/spotter/`: what `spot_keywords.py --model R/spotter` runs (make_spotter.py's folder);
- `R/custom_keywords.json`: the settings, the clip length (`clip_ms`), the seconds of every stage,
  the validation accuracy, the held-back accuracy and the spotter's calibration figures;
  `R/settings.json`: the flags that define the folder. Both are written atomically.

`--front_end openwakeword` (pip install pyopen-wakeword): a small head (oww_embeddings.build_head) on
openWakeWord's pretrained speech embeddings of the corpus's clips (every keyword clip, 3,000 other
words, 500 noise slices, each placed after other audio as in a stream), the --negatives and the
recordings, instead of a DS-CNN trained from scratch; its spotter hops every 80 ms (one embedding)
and runs the wheel's two feature models, float TFLite, on the Pi. On real speech it finds far more of
the keywords from text alone (README, "Your own keywords"); the licence of those two models is an
open question upstream (oww_embeddings.licence_note()).

`--pretrained R0 --recordings DIR`: fine-tune the synthetic-only model of an earlier folder R0 (same
`--words` and `--language`) on your recordings, reusing R0's corpus and streams: minutes instead of a
new corpus and pre-training. R then holds no corpus/, streams/ or pretrain/ of its own.

Resume: run the same command again. A finished stage is skipped (its last file marks it:
corpus.json, stream.json, metrics.json, spotter.json); an unfinished corpus or stream is made again,
an unfinished training continues where it stopped (train.py --resume). Another `--words`,
`--language`, `--seed`, `--speakers`, `--negatives`, ... than R/settings.json holds is an error: use
another --out.
"""

import argparse
import logging
import os
import subprocess
import sys
import time

import numpy as np

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.models import oww_embeddings as oww
from kws.submit import probs
from kws import runs

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
REPORT_FILE = "custom_keywords.json"
PRETRAIN_EXPERIMENT, RECORDINGS_EXPERIMENT = "370", "371"
DEFINING_FLAGS = ("words", "language", "seed", "speakers", "near_misses", "other_words", "recordings",
                  "held_back_every", "negatives", "front_end")
FRONT_ENDS = ("ds_cnn", oww.FRONT_END)  # trained from scratch on the waveform; a head on openWakeWord's embeddings
HEAD_EPOCHS = 40  # oww_embeddings.train_head's: ~1 min for 10,000 clips on 2 cores
EMBED_CLIPS = 2000  # clips of a CSV loaded and embedded at a time (their windows: 250 MB)
EMBEDDING_HOP_MS = 1000 * oww.EMBEDDING_HOP_SAMPLES // audio.SAMPLE_RATE  # 80: a hop per new embedding
HELD_BACK_EVERY = 5  # one clip in five of each keyword is kept back to measure the accuracy on the user's voice
STREAM_NOISE = os.path.join("train", "audio", label_sets.BACKGROUND_NOISE_DIR)  # inside a corpus
TALK_FLAGS = ("--negatives_only", "--sentence_probability", 0.5, "--noise_only_fraction", 0.2)  # talk, no keyword
TALK_MINUTES = 120  # of real talk the spotter's false alarms are counted on (--talk_minutes): 2 per 1 FA/h
# A head also trains on the windows of half as long a stream of the --negatives training split's talk, every
# second hop (60 minutes: 22,500 windows, ~70 s to embed): words in sentences, cut anywhere by the window, as a
# spotter hears talk
TALK_WINDOW_EVERY = 2
# Share of the synthetic training's samples drawn from --negatives: among the corpus's ~25,000 unknown
# clips a few thousand real ones would be a few per cent of the unknown slots and barely heard.
NEGATIVES_RATIO = 0.2
NEGATIVES_CSV = "clips.csv"  # in R/negatives


def parse_keywords(text):
    """{label: phrase} of the typed keywords, in order; an empty or repeated one is an error."""
    phrases = [" ".join(p.lower().split()) for p in text.split(",")]
    if not all(phrases) or len(set(phrases)) != len(phrases):
        raise cli.UserError(f"--words must be a comma list of distinct keywords or phrases, got {text!r}")
    found = {label_sets.phrase_label(p): p for p in phrases}
    clash = {label_sets.SILENCE_LABEL, label_sets.UNKNOWN_LABEL, label_sets.BACKGROUND_NOISE_DIR} & set(found)
    if clash:
        raise cli.UserError(f"--words: {sorted(clash)} is a name the pipeline keeps for itself")
    return found


def run_stage(name, script, args):
    """Runs one script of the project with this Python; its output goes to the console."""
    command = [sys.executable, os.path.join(runs.PROJECT_DIR, script), *map(str, args)]
    log.info("%s: %s", name, " ".join(command[1:]))
    if subprocess.run(command).returncode != 0:
        raise cli.UserError(f"stage {name!r} failed: {' '.join(command[1:])} (its messages are above); "
                            "fix the cause and run the same command again to continue")


def read_settings(folder):
    """R/settings.json; a folder made before --front_end existed trained the DS-CNN."""
    return {"front_end": FRONT_ENDS[0], **runs.read_json(os.path.join(folder, SETTINGS_FILE))}


def check_settings(out, settings):
    """Writes R/settings.json on the first run; a later run with other defining flags is an error."""
    path = os.path.join(out, SETTINGS_FILE)
    if os.path.exists(path):
        earlier = read_settings(out)
        changed = {k: (earlier.get(k), v) for k, v in settings.items() if earlier.get(k) != v}
        if changed:
            raise cli.UserError(f"{out} was made with other settings {changed} (earlier, now): "
                                "run the same command to continue it, or choose another --out")
        return
    os.makedirs(out, exist_ok=True)
    runs.write_json(path, settings)


# ---------------------------------------------------------------------------------------------------
# Your recordings

def _recording_folders(recordings_dir, keywords):
    """{label: folder} of the keyword folders (and `_unknown_`) of --recordings; others are an error."""
    if not os.path.isdir(recordings_dir):
        raise cli.UserError(f"--recordings {recordings_dir}: not a folder")
    folders = {}
    for entry in sorted(os.scandir(recordings_dir), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        label = label_sets.phrase_label(entry.name)
        if label not in keywords and label != label_sets.UNKNOWN_LABEL:
            raise cli.UserError(f"{entry.path}: not a keyword of --words ({', '.join(keywords)}) nor "
                                f"{label_sets.UNKNOWN_LABEL}")
        folders[label] = entry.path
    missing = [k for k in keywords if k not in folders]
    if missing:
        raise cli.UserError(f"--recordings {recordings_dir}: no folder for {missing}")
    return folders


def clip_around_speech(samples, clip_samples=audio.CLIP_SAMPLES):
    """The clip (`clip_samples`) of a recording around its spoken part (a shorter one is padded at the end)."""
    if len(samples) <= clip_samples:
        return audio.fit_clip(samples, clip_samples)
    first, end = audio.speech_span(samples)
    start = min(max(0, (first + end - clip_samples) // 2), len(samples) - clip_samples)
    return samples[start:start + clip_samples]


def read_recordings(folder, clip_samples=audio.CLIP_SAMPLES):
    """(file name, clip of `clip_samples`) of every readable file of a folder; unreadable ones are logged and
    skipped."""
    clips, skipped = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or name.startswith("."):
            continue
        try:
            clips.append((name, clip_around_speech(audio.read_wav(path), clip_samples)))
        except audio.WavError as e:
            log.warning("skipped an unreadable recording: %s", e)
            skipped.append(path)
    return clips, skipped


def held_back_indexes(count, seed, label, every=HELD_BACK_EVERY):
    """Which of `count` clips are kept back: one in `every` (0: none), at least one of two or more, drawn from the seed."""
    wanted = 0 if count < 2 or not every else max(1, round(count / every))
    rng = np.random.default_rng([seed, *label.encode()])
    return set(rng.choice(count, wanted, replace=False).tolist())


def prepare_recordings(recordings_dir, keywords, out, seed, every=HELD_BACK_EVERY, clip_samples=audio.CLIP_SAMPLES):
    """Writes R/recordings, clips of `clip_samples` (see the module docstring); returns its summary."""
    root = os.path.join(out, "recordings")
    training, held, skipped = [], [], []
    for label, folder in _recording_folders(recordings_dir, keywords).items():
        clips, bad = read_recordings(folder, clip_samples)
        skipped += bad
        if not clips and label != label_sets.UNKNOWN_LABEL:
            raise cli.UserError(f"{folder}: no readable recording of {label!r}")
        keep_back = held_back_indexes(len(clips), seed, label, every) if label != label_sets.UNKNOWN_LABEL else set()
        for index, (name, clip) in enumerate(clips):
            stem = f"{label}__{os.path.splitext(name)[0]}.wav"
            if index in keep_back:
                audio.write_wav(os.path.join(root, "heldback", stem), clip)
                held.append((stem, label))
            else:
                audio.write_wav(os.path.join(root, "audio", label, stem), clip)
                training.append((f"audio/{label}/{stem}", label))
    corpus.write_pseudo_labels(os.path.join(root, "training_clips.csv"), training)
    cli.write_text(os.path.join(root, "heldback.csv"), "fname,label\n" + "".join(f"{n},{l}\n" for n, l in held))
    return {"training_clips": len(training), "held_back_clips": len(held), "skipped_files": skipped}


# ---------------------------------------------------------------------------------------------------
# Real speech without the keywords

def prepare_negatives(negatives_dir, keywords, out):
    """R/negatives/: clips.csv (absolute path, `_unknown_`) of every training-split clip of a dataset
    folder (any layout corpus.py reads; its list files or speaker hash split it) whose word is not a
    keyword, and its noise files as audio/_background_noise_/ symlinks; returns the summary it keeps
    in negatives.json. Validation and testing clips are left out: they stay the user's to measure on."""
    root = os.path.join(out, "negatives")
    summary_path = os.path.join(root, "negatives.json")
    if os.path.exists(summary_path):
        return runs.read_json(summary_path)
    index = corpus.index_folder(negatives_dir)
    words = {word for _, _, word, _ in index.clips}
    left_out = sorted(w for w in words if label_sets.phrase_label(w) in keywords)
    rows = [(os.path.abspath(path), label_sets.UNKNOWN_LABEL) for _, path, word, split in index.clips
            if split == "training" and word not in left_out]
    validation = sum(split == "validation" and word not in left_out for _, _, word, split in index.clips)
    if not rows or not validation:
        raise cli.UserError(f"--negatives {negatives_dir}: no {'training' if not rows else 'validation'}-split "
                            "clip of a word other than the keywords (the training split is trained on, the "
                            "validation split is the real talk the spotter's false alarms are counted on; "
                            f"{corpus.LIST_FILES['validation']} or the speaker hash split them)")
    noise_dir = os.path.join(root, "audio", label_sets.BACKGROUND_NOISE_DIR)
    os.makedirs(noise_dir, exist_ok=True)
    for path in index.noise_paths:
        link = os.path.join(noise_dir, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(path), link)
    corpus.write_pseudo_labels(os.path.join(root, NEGATIVES_CSV), rows)
    if left_out:
        log.info("--negatives: left out the folders of your keywords: %s", ", ".join(left_out))
    summary = {"folder": os.path.abspath(negatives_dir), "clips": len(rows), "validation_clips": validation,
               "words": len(words) - len(left_out),
               "left_out": left_out, "noise_files": len(index.noise_paths)}
    runs.write_json(summary_path, summary)
    return summary


def negatives_flags(out):
    """train.py flags that mix R/negatives in: its noise as a data folder, its clips as `_unknown_` slots."""
    root = os.path.join(out, "negatives")
    return ["--pseudo_labels", os.path.join(root, NEGATIVES_CSV), "--pseudo_ratio", NEGATIVES_RATIO], [root]


def held_back_accuracy(csv_path, truth):
    """Share of held-back clips a submission CSV (fname,label) labels right, and the wrong ones."""
    predicted = probs.read_label_dict(csv_path)
    wrong = {fname: predicted.get(fname) for fname, label in truth.items() if predicted.get(fname) != label}
    return {"accuracy": 1 - len(wrong) / len(truth), "clips": len(truth), "wrong": wrong}


# ---------------------------------------------------------------------------------------------------
# Stages

def make_corpus(args, keywords, folder):
    if os.path.exists(os.path.join(folder, "corpus.json")):
        return "done before"
    run_stage("corpus", "make_synthetic_dataset.py", [
        "--out", folder, "--words", ",".join(keywords.values()), "--language", args.language,
        "--speakers", args.speakers, "--near_misses", args.near_misses, "--other_words", args.other_words,
        "--test_clips", 0, "--seed", args.seed, "--workers", args.workers, "--clip_ms", "auto",
        *(["--overwrite"] if os.path.exists(folder) else [])])
    return "made"


def corpus_clip_ms(corpus_dir):
    """The clip length (ms) of a synthetic corpus: its corpus.json's `clip_ms` (1000 in a corpus older than it)."""
    return runs.read_json(os.path.join(corpus_dir, "corpus.json")).get("clip_ms", audio.CLIP_MS)


def make_stream(name, folder, flags):
    """A make_streaming_test.py folder, made unless its stream.json says it is done."""
    if not os.path.exists(os.path.join(folder, "stream.json")):
        run_stage(f"stream {name}", "make_streaming_test.py", [*flags, "--out", folder, "--overwrite"])
    return folder


def make_streams(args, keywords, corpus_dir, root):
    """The synthetic calibration streams: keywords among other words (R/streams/words), and without
    --negatives other words and sentences only (R/streams/negatives; with them the false alarms are
    counted on real talk instead: make_talk_streams)."""
    common = ["--clips", os.path.join(corpus_dir, "train"), "--split", "validation", "--reuse",
              "--keywords", *keywords, "--noise", os.path.join(corpus_dir, STREAM_NOISE)]
    streams = [make_stream("words", os.path.join(root, "words"),
                           [*common, "--minutes", args.stream_minutes, "--seed", args.seed])]
    if not args.negatives:
        streams.append(make_stream("negatives", os.path.join(root, "negatives"), [
            *common, "--minutes", 2 * args.stream_minutes, "--seed", args.seed + 1, *TALK_FLAGS]))
    return streams


def make_talk_streams(args, keywords, corpus_dir, out, head):
    """Streams of real talk without the keywords from --negatives (in R/streams/, also with --pretrained):
    `talk` of its validation split, where the spotter's false alarms are counted (make_spotter.py
    --fa_streams), and for a head `training_talk` of its training split, whose windows it trains on as
    `_unknown_`. Both over the --negatives noise (the corpus's where it has none), clips reused in
    rounds at varied speed and level. Returns {"talk": folder, "training_talk": folder or None}."""
    root = os.path.join(out, "streams")
    noise = os.path.join(out, "negatives", "audio", label_sets.BACKGROUND_NOISE_DIR)
    noise = noise if os.listdir(noise) else os.path.join(corpus_dir, STREAM_NOISE)
    common = ["--clips", args.negatives, "--reuse", "--keywords", *keywords, "--noise", noise, *TALK_FLAGS]
    streams = {"talk": make_stream("talk", os.path.join(root, "talk"), [
        *common, "--split", "validation", "--minutes", args.talk_minutes, "--seed", args.seed + 2])}
    streams["training_talk"] = make_stream("training talk", os.path.join(root, "training_talk"), [
        *common, "--split", "training", "--minutes", args.talk_minutes / 2, "--seed", args.seed + 3]) if head else None
    return streams


def train(args, keywords, corpus_dir, run_dir, experiment, extra=(), data_dirs=()):
    if os.path.exists(os.path.join(run_dir, "metrics.json")):
        return runs.read_json(os.path.join(run_dir, "metrics.json"))
    budget = ["--max_minutes", args.train_minutes] if experiment == PRETRAIN_EXPERIMENT else []
    budget += ["--epochs", args.epochs] if args.epochs else []
    run_stage(f"training ({run_dir})", "train.py", [
        "--experiment", experiment, "--run_dir", run_dir, "--resume", "--seed", args.seed,
        "--data_dir", os.path.join(corpus_dir, "train"), *data_dirs, "--wanted_words", *keywords,
        "--clip_duration_ms", corpus_clip_ms(corpus_dir), *budget, *extra])
    return runs.read_json(os.path.join(run_dir, "metrics.json"))


class HeadExamples:
    """A run's heads' training examples as openWakeWord embeddings, each embedded once: the corpus's
    training clips, then each `path,label` CSV's clips (--negatives, recordings) in the order added, each
    placed after other audio with one random stream, silence from the corpus's noise and `noise_paths`;
    the windows of a `talk` stream; the corpus's validation clips. The head with recordings continues
    from the synthetic head's examples (the same random stream: as if embedded again)."""

    def __init__(self, args, keywords, corpus_dir, noise_paths=()):
        self.workers, self.seed, self.train_dir = args.workers, args.seed, os.path.join(corpus_dir, "train")
        self.words, self.model_labels = list(keywords), label_sets.model_labels(list(keywords))
        self.clip_samples = audio.clip_samples(corpus_clip_ms(corpus_dir))
        self.noise_paths, self.front_end, self.csv_paths, self._talk, self._validation = noise_paths, None, [], {}, None

    def _start(self):
        self.front_end = oww.EmbeddingFrontEnd(num_threads=self.workers)
        self.rng = np.random.default_rng(self.seed)
        self.pool, labels = oww.training_clips(self.train_dir, self.words, self.seed, extra_noise=self.noise_paths,
                                               clip_samples=self.clip_samples)
        log.info("head: embedding %d corpus clips", len(self.pool))
        self.parts, self.labels = [self._embed(self.pool)], list(labels)

    def _embed(self, chunk):  # each clip after corpus clips (oww_embeddings.in_context), as a stream puts words
        return self.front_end.embed_clips(oww.in_context(chunk, self.front_end.window_samples, self.rng,
                                                         pool=self.pool))

    def clips(self, csv_paths):
        """(float32 [N, T, 96], N int labels): the corpus's clips and those of `csv_paths`, which start with
        the CSVs of an earlier call."""
        if self.front_end is None:
            self._start()
        if csv_paths[:len(self.csv_paths)] != self.csv_paths:
            raise ValueError(f"head examples: {csv_paths} do not continue {self.csv_paths}")
        for csv_path in csv_paths[len(self.csv_paths):]:
            rows = corpus.read_pseudo_labels(csv_path)
            log.info("head: embedding %d clips of %s", len(rows), csv_path)
            # EMBED_CLIPS at a time: the whole Speech Commands data as --negatives would not fit as waveforms
            for start in range(0, len(rows), EMBED_CLIPS):
                self.parts.append(self._embed([audio.load_clip(path, self.clip_samples)
                                               for _, path, _ in rows[start:start + EMBED_CLIPS]]))
            self.labels += [self.model_labels.index(label) for _, _, label in rows]
            self.csv_paths.append(csv_path)
        return np.concatenate(self.parts), np.array(self.labels)

    def talk(self, folder):
        """float32 [N, T, 96]: the windows of the stream in `folder` at every TALK_WINDOW_EVERY-th hop."""
        if folder not in self._talk:
            log.info("head: embedding the windows of %s", folder)
            self._talk[folder] = oww.stream_windows(self.front_end, audio.read_wav(os.path.join(folder, "stream.wav")),
                                                    TALK_WINDOW_EVERY)
        return self._talk[folder]

    def validation(self):
        """(embeddings, labels) of the corpus's validation speakers, as train.py's best_val_accuracy (clips
        after zeros: as labelled); (None, []) without any."""
        if self._validation is None:
            clips, labels = oww.training_clips(self.train_dir, self.words, self.seed, unknown_clips=500,
                                               silence_clips=100, split="validation", clip_samples=self.clip_samples)
            self._validation = (self.front_end.embed_clips(clips) if clips else None), labels
        return self._validation


def train_head(args, examples, folder, csv_paths=(), talk=None):
    """folder/head.tflite, head_labels.txt, head_embeddings.json (oww_embeddings.export_head): a head on the
    HeadExamples of the corpus and of `csv_paths`, and on the windows of a `talk` stream as `_unknown_`;
    folder/head.json, written last, holds its figures (and marks the stage done). TensorFlow trains it
    in this process."""
    summary_path = os.path.join(folder, "head.json")
    if os.path.exists(summary_path):
        return runs.read_json(summary_path)
    if not oww.available():
        raise cli.UserError(f"--front_end {oww.FRONT_END}: {oww.INSTALL_HINT}")
    x, labels = examples.clips(list(csv_paths))
    weights, windows = np.ones(len(labels)), 0
    if talk:
        talk_x = examples.talk(talk)
        windows = len(talk_x)
        unknown = examples.model_labels.index(label_sets.UNKNOWN_LABEL)
        # the windows together weigh as much as the unknown clips: at one each, the head called lone real
        # words keywords far more often (validation words of benchmarks/custom_keywords.py's data, 3 seeds:
        # 0.52-0.73 of them unknown, against 0.75-0.85 at this weight; spotting alike)
        weights = np.concatenate([weights, np.full(windows, np.sum(labels == unknown) / max(windows, 1))])
        x, labels = np.concatenate([x, talk_x]), np.concatenate([labels, np.full(windows, unknown)])
    epochs = args.epochs or HEAD_EPOCHS
    head = oww.train_head(x, labels, len(examples.model_labels), args.seed, epochs=epochs, sample_weights=weights)
    val_x, val_labels = examples.validation()
    predicted = head.predict(val_x, verbose=0).argmax(1) if val_labels else []
    os.makedirs(folder, exist_ok=True)
    oww.export_head(head, examples.model_labels, os.path.join(folder, "head"), examples.clip_samples)
    summary = {"clips": len(examples.pool), "talk_windows": windows, "epochs": epochs,
               "best_val_accuracy": float(np.mean(np.array(predicted) == val_labels)) if val_labels else None}
    runs.write_json(summary_path, summary)
    return summary


def make_spotter(args, model, streams, talk, out):
    """R/spotter from a run folder (the int8 export) or a head .tflite (hops of 80 ms: one per embedding);
    false alarms counted on the real `talk` stream when there is one (--negatives)."""
    folder = os.path.join(out, "spotter")
    source = (["--model", model, "--hop_ms", EMBEDDING_HOP_MS] if model.endswith(".tflite") else
              ["--run_dir", model, "--check_clips", args.check_clips])
    fa_streams = ["--fa_streams", talk] if talk else []
    if not os.path.exists(os.path.join(folder, "spotter.json")):
        run_stage("spotter", "make_spotter.py", [*source, "--streams", *streams, *fa_streams, "--out", folder,
                                                 "--overwrite"])
    return runs.read_json(os.path.join(folder, "spotter.json"))


def label_clips(name, model, clips_dir, csv_path):
    """make_submission_on_rpi.py --model_labels (a .tflite) or make_submission.py (a run folder) on a
    folder of clips; the path of the CSV with the model's own labels."""
    if model.endswith(".tflite"):
        run_stage(name, "make_submission_on_rpi.py", ["--model", model, "--test_data", clips_dir, "--submission_fn",
                                                      csv_path, "--model_labels", "--num_threads", 1, "--overwrite"])
        return csv_path
    run_stage(name, "make_submission.py", ["--run_dir", model, "--test_dir", clips_dir, "--out", csv_path,
                                           "--no_progress", "--overwrite"])
    return csv_path.replace(".csv", "_all_labels.csv")


def score_held_back(out, spotter, synthetic_model):
    """Accuracy on the held-back recordings of the shipped spotter's model (as spot_keywords.py runs it)
    and of the synthetic-only model (a run folder or a head .tflite)."""
    folder = os.path.join(out, "recordings")
    truth = probs.read_label_dict(os.path.join(folder, "heldback.csv"))
    if not truth:
        return {}
    clips = os.path.join(folder, "heldback")
    shipped = label_clips("held-back clips, spotter", os.path.join(out, "spotter", spotter["model"]), clips,
                          os.path.join(folder, "heldback_spotter.csv"))
    synthetic = label_clips("held-back clips, synthetic only", synthetic_model, clips,
                            os.path.join(folder, "heldback_synthetic.csv"))
    return {"spotter": held_back_accuracy(shipped, truth), "synthetic_only": held_back_accuracy(synthetic, truth)}


def pretrained_folder(path, settings):
    """The corpus, streams and synthetic run of an earlier custom_keywords.py folder with the same keywords."""
    earlier_path = os.path.join(path, SETTINGS_FILE)
    if not os.path.exists(os.path.join(path, REPORT_FILE)) or not os.path.exists(earlier_path):
        raise cli.UserError(f"--pretrained {path}: not a finished custom_keywords.py folder (no {REPORT_FILE})")
    earlier = read_settings(path)
    if earlier.get("recordings"):
        raise cli.UserError(f"--pretrained {path}: trained on recordings; give a synthetic-only folder")
    changed = [k for k in ("words", "language", "negatives", "front_end") if earlier.get(k) != settings[k]]
    if changed:
        raise cli.UserError(f"--pretrained {path}: made with other {changed}: {[earlier.get(k) for k in changed]}")
    return (os.path.join(path, "corpus"), os.path.join(path, "streams"),
            os.path.join(path, "head" if settings["front_end"] == oww.FRONT_END else "run"))


def train_ds_cnn(args, keywords, out, corpus_dir, pretrain_dir, run_dir, timed):
    """train.py --experiment 370 into pretrain_dir, then with recordings 371 into run_dir; returns
    (final run folder, synthetic-only run folder, the final run's metrics)."""
    negatives, noise_dirs = negatives_flags(out) if args.negatives else ([], [])
    metrics = timed("training", lambda: train(args, keywords, corpus_dir, pretrain_dir, PRETRAIN_EXPERIMENT,
                                              negatives, noise_dirs))
    if args.recordings:
        # the recordings alone are the fine-tune's mixed-in clips (a few dozen among thousands of negatives
        # would hardly be drawn); the real noise stays, and the pre-training has heard the negatives
        metrics = timed("fine-tuning", lambda: train(args, keywords, corpus_dir, run_dir, RECORDINGS_EXPERIMENT, [
            "--init_from", pretrain_dir,
            "--pseudo_labels", os.path.join(out, "recordings", "training_clips.csv")], noise_dirs))
    return run_dir, pretrain_dir, metrics


def train_heads(args, keywords, out, corpus_dir, synthetic_dir, head_dir, timed, training_talk=None):
    """A head on openWakeWord's embeddings into synthetic_dir, and with recordings one more trained on
    them too into head_dir (a head trains in a minute: no fine-tune), both on the windows of the
    `training_talk` stream too when there is one; returns (the final head's .tflite, the synthetic-only
    head's, the final head's figures)."""
    csvs, noise = [], []
    if args.negatives:
        noise_dir = os.path.join(out, "negatives", "audio", label_sets.BACKGROUND_NOISE_DIR)
        csvs, noise = [os.path.join(out, "negatives", NEGATIVES_CSV)], [
            os.path.join(noise_dir, name) for name in sorted(os.listdir(noise_dir))]
    examples = HeadExamples(args, keywords, corpus_dir, noise)
    metrics = timed("head", lambda: train_head(args, examples, synthetic_dir, csvs, training_talk))
    if args.recordings:
        recordings = os.path.join(out, "recordings", "training_clips.csv")
        metrics = timed("head with recordings", lambda: train_head(args, examples, head_dir, csvs + [recordings],
                                                                   training_talk))
    return os.path.join(head_dir, "head.tflite"), os.path.join(synthetic_dir, "head.tflite"), metrics


def build(args):
    """Runs every stage into args.out; returns the report written to R/custom_keywords.json."""
    keywords = parse_keywords(args.words)
    out = args.out
    settings = {name: getattr(args, name) for name in DEFINING_FLAGS}
    settings["recordings"] = os.path.abspath(args.recordings) if args.recordings else None
    settings["pretrained"] = os.path.abspath(args.pretrained) if args.pretrained else None
    settings["negatives"] = os.path.abspath(args.negatives) if args.negatives else None
    check_settings(out, settings)
    report_path = os.path.join(out, REPORT_FILE)
    # a rerun adds its time to the earlier run's: a skipped stage costs nothing, a resumed one its rest
    seconds = runs.read_json(report_path)["seconds"] if os.path.exists(report_path) else {}
    report = {"keywords": keywords, "language": args.language, "settings": settings}

    def timed(name, step):
        start = time.monotonic()
        result = step()
        seconds[name] = round(seconds.get(name, 0.0) + time.monotonic() - start, 1)
        print(f"== {name}: {time.monotonic() - start:.0f} s", flush=True)
        return result

    head = args.front_end == oww.FRONT_END
    if head:
        log.info("--front_end %s: openWakeWord's feature models carry an open licence question "
                 "(oww_embeddings.licence_note()); fine for a hobby spotter, ask before a product", oww.FRONT_END)
    corpus_dir, streams_root = os.path.join(out, "corpus"), os.path.join(out, "streams")
    final_dir = os.path.join(out, "head" if head else "run")
    synthetic_dir = os.path.join(out, "head_synthetic" if head else "pretrain") if args.recordings else final_dir
    if args.pretrained:
        corpus_dir, streams_root, synthetic_dir = pretrained_folder(args.pretrained, settings)
    if args.recordings:
        _recording_folders(args.recordings, keywords)  # a missing keyword folder is an error before the corpus
    if args.negatives:
        report["negatives"] = timed("negatives", lambda: prepare_negatives(args.negatives, keywords, out))
    timed("corpus", lambda: make_corpus(args, keywords, corpus_dir))
    report["clip_ms"] = corpus_clip_ms(corpus_dir)
    if args.recordings:  # cut to the corpus's clip length, which the model is trained on
        report["recordings"] = timed("recordings", lambda: prepare_recordings(
            args.recordings, keywords, out, args.seed, args.held_back_every, audio.clip_samples(report["clip_ms"])))
    streams = timed("streams", lambda: make_streams(args, keywords, corpus_dir, streams_root))
    talk = timed("talk streams", lambda: make_talk_streams(args, keywords, corpus_dir, out, head)) \
        if args.negatives else {}
    if head:
        model, synthetic_model, metrics = train_heads(args, keywords, out, corpus_dir, synthetic_dir, final_dir, timed,
                                                      talk.get("training_talk"))
    else:
        model, synthetic_model, metrics = train_ds_cnn(args, keywords, out, corpus_dir, synthetic_dir, final_dir, timed)
    spotter = timed("spotter", lambda: make_spotter(args, model, streams, talk.get("talk"), out))
    if args.recordings:
        report["held_back"] = timed("held-back clips", lambda: score_held_back(out, spotter, synthetic_model))
    target = spotter["default_target_fa_per_hour"]
    report.update({
        "seconds": seconds, "corpus": corpus_dir, "model": model, "run_dir": None if head else model,
        "spotter": os.path.join(out, "spotter"),
        "validation_accuracy": metrics.get("best_val_accuracy"),
        "calibration": spotter["calibration"]["per_target"].get(f"{target:g}")})
    runs.write_json(report_path, report)
    return report


def print_summary(report):
    print(f"\nkeywords: {', '.join(report['keywords'])} ({report['language']})")
    print(f"validation accuracy (synthetic validation speakers): {report['validation_accuracy']}")
    calibration = report["calibration"] or {}
    if calibration:
        talk = report.get("negatives") is not None
        print(f"on the calibration streams: {calibration['recall']:.1%} of the synthetic keywords found at "
              f"{calibration['false_alarms_per_hour']:.2f} false alarms per hour of "
              + ("real talk of other speakers (of --negatives)" if talk else
                 "synthetic talk (an optimistic estimate: --negatives calibrates on real talk)"))
    for model, result in report.get("held_back", {}).items():
        print(f"held-back recordings, {model}: {result['accuracy']:.1%} of {result['clips']} clips right")
    if report.get("recordings", {}).get("skipped_files"):
        print(f"skipped unreadable recordings: {report['recordings']['skipped_files']}")
    print(f"spot with:  python spot_keywords.py --model {report['spotter']} --input long.wav")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", required=True, help='comma list of keywords or phrases, e.g. "lights on,hey pi"')
    parser.add_argument("--language", default="en-us",
                        help="eSpeak NG language of the keywords (default en-us; see "
                             "make_synthetic_dataset.py --list_languages)")
    parser.add_argument("--recordings", default=None,
                        help="folder with a sub-folder of your own WAVs per keyword (optional)")
    parser.add_argument("--pretrained", default=None,
                        help="with --recordings: reuse the corpus, streams and synthetic model of an earlier "
                             "synthetic-only folder of the same --words and --language (no new corpus or pre-training)")
    parser.add_argument("--negatives", default=None,
                        help="a folder of real speech without your keywords (a dataset of word folders as "
                             "train.py reads, e.g. the Speech Commands data: folders named as a keyword are "
                             "left out), and its _background_noise_/: trained on as _unknown_ and noise (optional)")
    parser.add_argument("--front_end", choices=FRONT_ENDS, default=FRONT_ENDS[0],
                        help="ds_cnn (default): a DS-CNN trained from scratch, shipped as int8; openwakeword: a "
                             "small head on openWakeWord's pretrained speech embeddings (pip install "
                             "pyopen-wakeword; see oww_embeddings.licence_note)")
    parser.add_argument("--held_back_every", type=int, default=HELD_BACK_EVERY,
                        help=f"keep one recording in this many of each keyword back to measure the accuracy on "
                             f"your voice (default {HELD_BACK_EVERY}; 0: train on all)")
    parser.add_argument("--out", required=True, help="output folder R (resumable: run the same command again)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus, streams and training (default 0)")
    parser.add_argument("--speakers", type=int, default=600, help="synthetic speakers of the corpus (default 600)")
    parser.add_argument("--near_misses", type=int, default=6, help="sound-alike near misses per keyword (default 6)")
    parser.add_argument("--other_words", type=int, default=60,
                        help="ordinary words of the language as negatives (default 60)")
    parser.add_argument("--train_minutes", type=float, default=11.0,
                        help="time budget of the synthetic training (default 11, experiment 370's)")
    parser.add_argument("--epochs", type=int, default=0,
                        help=f"override the experiments' epochs, or the head's {HEAD_EPOCHS} (0: theirs)")
    parser.add_argument("--stream_minutes", type=float, default=5.0,
                        help="minutes of the keyword calibration stream (the negatives' is twice as long; default 5)")
    parser.add_argument("--talk_minutes", type=float, default=TALK_MINUTES,
                        help="with --negatives: minutes of the real talk stream (its validation split) the "
                             f"spotter's false alarms are counted on (default {TALK_MINUTES}; read when the stream is "
                             "made)")
    parser.add_argument("--check_clips", type=int, default=100,
                        help="validation clips freeze_graph.py checks the exports on (default 100)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="corpus worker processes")
    return parser


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.pretrained and not args.recordings:
        raise cli.UserError("--pretrained needs --recordings: it fine-tunes an earlier folder's model on them")
    if args.speakers < 3 or min(args.stream_minutes, args.talk_minutes, args.train_minutes) <= 0:
        raise cli.UserError("--speakers must be >= 3 (training, validation and testing speakers), "
                            "--stream_minutes, --talk_minutes and --train_minutes positive")
    report = build(args)
    print_summary(report)
    return report

