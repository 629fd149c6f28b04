"""Speech Commands data for training and scoring: decode once, plan seeded augmentation, batch.

Library use (train.py and the scoring scripts):

    ap = AudioProcessor.from_settings(values)    # resolved settings (settings.py), or keyword arguments
    ds = ap.dataset("training", batch_size=100)  # keras.utils.PyDataset of (x float32 [b, clip samples], y)
    ds.set_epoch(3)                              # training batch i of epoch e: a pure function of (seed, e, i)

Command line (describes a dataset; reads the folders, writes nothing, loads no TensorFlow):

    python input_data.py DATA_DIR [DATA_DIR ...] [--json] [--wanted_words yes no ... | all]
                         [--validation_percentage 10] [--pseudo_labels CSV ...] [--seed 0] ...

prints clips per split and label, speakers per split, the check that no speaker is in two splits,
list-file entries without a file, clips that could not be read, and the noise files. Its flags
are train.py's settings of the same names (same defaults and help).

Data folders, splits, wanted words and pseudo-label lists follow corpus.py; a list-file entry
without a file is counted and logged, a speaker found in two splits is logged and reported.
Labels: `labels.model_labels(wanted_words)`; per split, `silence_percentage` and
`unknown_percentage` of the wanted-word clip count are added as silence and unknown samples.

Clips are padded or cut (`audio.fit_clip`) to the setting `clip_duration_ms` (default 1000 ms:
16000 samples), the length of the model's input.

Memory: every clip is decoded once (threads, tqdm bar) into ONE int16 array [n_clips, clip samples]:
32,000 bytes per one-second clip, linear in the clip count: v0.01's 64,727 clips take 2.1 GB, v0.02's
105,829 take 3.4 GB, 150k pseudo-labelled test clips 4.8 GB more. Noise files are kept as float32
(64 KB per second). A clip that cannot be read (`audio.WavError`) is skipped, logged and listed
in `ap.unreadable`.

Training (`settings.AugmentSettings`): an epoch is one pass over every wanted-word training clip
in a seeded permutation plus the silence and unknown slots; each unknown slot draws from the
whole unknown pool, each silence slot is a slice of a noise file scaled to a log-uniform RMS.
Clips get a time shift, a volume, optionally a speed change and background noise; with
`stream_probability` a share of the word slots become windows as a keyword spotter sees them
(stream_augment.py). The draws make a `samples.BatchPlan`, which `samples.render` turns into
waveforms. All draws of batch i of epoch e come from `np.random.default_rng([seed, stream, e,
i])`, so a resumed run or any number of loader workers gives the same batches. With
`pseudo_labels` each slot is replaced by a random pseudo-labelled clip with probability
`pseudo_probability` (the setting `pseudo_ratio`; labels by `labels.model_label`). With
`teacher_probs` (key -> probabilities in label order; a clip's key is its path under the audio
root, `yes/0a1b2c3d_nohash_0.wav`, and a pseudo-labelled clip's its path relative to its CSV's
folder, `audio/yes/clip_0a1b.wav`; also `set_teacher`) the training targets are [one-hot |
teacher probabilities | 1 if the sample has them]; silence samples have none.

Validation and testing are fixed at construction by the seed (unknown selection, noise slices
and levels of silence samples), so scores compare across epochs and runs; words get no noise
unless `eval_background_frequency` > 0; the last partial batch is included.

Size: ~500 lines, above the project's ~450, because `AudioProcessor` is one state (clip index,
cache, split plans) that its methods share; what stands apart lives elsewhere: the layout in
corpus.py, the rendering in samples.py, the Keras dataset in split_dataset.py.
"""

import argparse
import collections
import json
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels
from kws.data import samples
from kws.training import settings
from kws.data import stream_augment

logger = logging.getLogger(__name__)

CLIP_BYTES = audio.CLIP_SAMPLES * 2  # int16 cache row of a one-second clip
SILENCE_INDEX, UNKNOWN_INDEX = 0, 1  # positions in labels.model_labels()
_UNKNOWN_SLOT, _SILENCE_SLOT = -1, -2  # training slot codes next to cache rows (>= 0)
# Separate random streams so no two purposes ever share draws.
_STREAMS = {"validation": 1, "testing": 2, "epoch_order": 3, "training_batch": 4, "stream_window": 5}
_DECODE_CHUNK = 256  # clips per thread task: few tasks, smooth progress bar


def decode_clips(paths, clip_samples=audio.CLIP_SAMPLES, workers=None, progress=True):
    """Decodes WAV files into one int16 array [n_readable, clip_samples], in threads.

    Returns (cache, readable mask over `paths`, [(path, problem)] of the unreadable files).
    """
    cache = np.zeros((len(paths), clip_samples), np.int16)
    readable = np.ones(len(paths), bool)
    problems = {}

    def decode(rows):
        for i in rows:
            try:
                cache[i] = audio.float_to_int16(audio.load_clip(paths[i], clip_samples))
            except audio.WavError as e:
                readable[i], problems[i] = False, e.problem
        return len(rows)

    chunks = [range(s, min(s + _DECODE_CHUNK, len(paths))) for s in range(0, len(paths), _DECODE_CHUNK)]
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool, \
            tqdm(total=len(paths), desc="decoding clips", unit="clip", disable=not progress) as bar:
        for done in pool.map(decode, chunks):
            bar.update(done)
    keep = np.flatnonzero(readable)
    if len(keep) < len(paths):  # compact in place: no second multi-GB copy
        for dst, src in enumerate(keep):
            cache[dst] = cache[src]
        cache = cache[:len(keep)]
    failures = [(paths[i], problems[i]) for i in sorted(problems)]
    for path, problem in failures[:20]:
        logger.warning("unreadable clip skipped: %s: %s", path, problem)
    if len(failures) > 20:
        logger.warning("... and %d more unreadable clips", len(failures) - 20)
    return cache, readable, failures


def load_noise(paths, clip_samples=audio.CLIP_SAMPLES):
    """([float32 noise recordings, each at least `clip_samples` long], [(path, problem)])."""
    noise, failures = [], []
    for path in paths:
        try:
            samples = audio.read_wav(path)
        except audio.WavError as e:
            logger.warning("unreadable noise file skipped: %s: %s", path, e.problem)
            failures.append((path, e.problem))
            continue
        noise.append(np.resize(samples, max(len(samples), clip_samples)))  # tiles a short file
    return noise, failures


def _log_uniform(rng, value_range, size):
    low, high = value_range
    return np.exp(rng.uniform(math.log(low), math.log(high), size))


_DEFAULT = settings.Settings  # its class attributes are the settings' defaults: the loader's too


class AudioProcessor:
    """Indexes, decodes and serves the clips of one or more data folders (see the module docstring).

    Scripts build it from resolved settings (`from_settings`); the keyword arguments are those
    settings, defaults included, with `pseudo_probability` for the setting `pseudo_ratio` (the
    default chance per training slot of a pseudo-labelled clip, when `pseudo_labels` is given;
    a schedule may change it per epoch) and `augment` for the augmentation settings.
    `decode_workers` threads decode (default: one per CPU). Every clip, noise slice and sample is
    `clip_duration_ms` long (`clip_samples`).
    """

    def __init__(self, data_dirs, wanted_words=None, silence_percentage=_DEFAULT.silence_percentage,
                 unknown_percentage=_DEFAULT.unknown_percentage, validation_percentage=_DEFAULT.validation_percentage,
                 testing_percentage=_DEFAULT.testing_percentage, seed=_DEFAULT.seed, augment=None,
                 pseudo_labels=None, teacher_probs=None, pseudo_probability=_DEFAULT.pseudo_ratio, decode_workers=None,
                 progress=True, clip_duration_ms=_DEFAULT.clip_duration_ms):
        if isinstance(data_dirs, (str, os.PathLike)):
            data_dirs = [data_dirs]
        if isinstance(pseudo_labels, (str, os.PathLike)):
            pseudo_labels = [pseudo_labels]
        if int(seed) < 0:
            raise cli.UserError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self.augment = augment if isinstance(augment, settings.AugmentSettings) \
            else settings.AugmentSettings.from_dict(augment or {})
        self.pseudo_probability = settings.check_probability(pseudo_probability, "pseudo_probability")
        settings.check_time_shift(self.augment, settings.check_clip_duration(clip_duration_ms))
        self.clip_samples = audio.clip_samples(clip_duration_ms)
        self.folders = corpus.index_folders(data_dirs, validation_percentage, testing_percentage)
        entries = [clip for folder in self.folders for clip in folder.clips]
        pseudo = corpus.read_pseudo_label_files(pseudo_labels) if pseudo_labels else []
        started = time.perf_counter()
        self._cache, readable, self.unreadable = decode_clips(
            [e[1] for e in entries] + [p[1] for p in pseudo], self.clip_samples, decode_workers, progress)
        entries = [e for e, ok in zip(entries, readable) if ok]
        pseudo = [p for p, ok in zip(pseudo, readable[len(readable) - len(pseudo):]) if ok]
        logger.info("decoded %d clips into a %.1f MB cache in %.1f s (%d unreadable)", len(self._cache),
                    self._cache.nbytes / 1e6, time.perf_counter() - started, len(self.unreadable))
        noise_paths = [p for folder in self.folders for p in folder.noise_paths]
        self.noise, noise_failures = load_noise(noise_paths, self.clip_samples)
        failed = {path for path, _ in noise_failures}
        self.noise_paths = [p for p in noise_paths if p not in failed]
        self.unreadable += noise_failures
        self._noise_spans = np.array([len(x) - self.clip_samples + 1 for x in self.noise], np.int64)
        if not self.noise:
            logger.warning("no readable %s files: silence samples are all zeros, no noise is added",
                           labels.BACKGROUND_NOISE_DIR)
        self.words = sorted({e[2] for e in entries})
        self.wanted_words = corpus.resolve_wanted_words(wanted_words, self.words)
        self.labels = labels.model_labels(self.wanted_words)
        self._index_rows(entries, pseudo)
        self._plan_splits(silence_percentage, unknown_percentage)
        self._teacher = self._has_teacher = self._teacher_function = None
        if teacher_probs is not None:
            self.set_teacher(teacher_probs)
        self._epoch_order = None

    @classmethod
    def from_settings(cls, values, **options):
        """The processor of resolved settings {name: value} (`settings.resolve`, `settings_from_config`):
        data folders, words, percentages, seed, augmentation, pseudo labels and their ratio.
        `options`: teacher_probs, decode_workers, progress."""
        return cls(values["data_dir"], wanted_words=settings.wanted_words_argument(values),
                   silence_percentage=values["silence_percentage"], unknown_percentage=values["unknown_percentage"],
                   validation_percentage=values["validation_percentage"],
                   testing_percentage=values["testing_percentage"], seed=values["seed"],
                   augment=settings.augment_settings(values), pseudo_labels=values["pseudo_labels"] or None,
                   pseudo_probability=values["pseudo_ratio"], clip_duration_ms=values["clip_duration_ms"], **options)

    @property
    def has_teacher(self):
        """True when teacher probabilities or a teacher function were given (training targets are then packed)."""
        return self._teacher is not None or self._teacher_function is not None

    @property
    def cache_bytes(self):
        """Bytes of the int16 clip cache (2 per sample: CLIP_BYTES per one-second clip)."""
        return self._cache.nbytes

    def _index_rows(self, entries, pseudo):
        """Per cache row: key, path, model label index, split (-1 for pseudo-labelled clips)."""
        index_of = {label: i for i, label in enumerate(self.labels)}
        self._keys = [e[0] for e in entries] + [p[0] for p in pseudo]
        self._paths = [e[1] for e in entries] + [p[1] for p in pseudo]
        words = [e[2] for e in entries] + [p[2] for p in pseudo]  # folder words, pseudo labels as written
        self._row_label = np.array([index_of[labels.model_label(w, self.wanted_words)] for w in words], np.int64)
        self._row_split = np.array([corpus.SPLITS.index(e[3]) for e in entries] + [-1] * len(pseudo), np.int64)
        self._pseudo_rows = np.arange(len(entries), len(entries) + len(pseudo))
        self.speakers_in_several_splits = self._crossing_speakers(entries)

    @staticmethod
    def _crossing_speakers(entries):
        splits_of = collections.defaultdict(set)
        for key, _, _, split in entries:
            splits_of[corpus.speaker_of(key)].add(split)
        crossing = sorted(s for s, splits in splits_of.items() if len(splits) > 1)
        if crossing:
            logger.warning("%d speakers are in more than one split (e.g. %s): the list files leak speakers "
                           "between training and evaluation", len(crossing), crossing[:5])
        return crossing

    def _plan_splits(self, silence_percentage, unknown_percentage):
        """Wanted-word rows, unknown pools, slot counts; the fixed validation/testing plans."""
        self._word_rows, self._unknown_pool, self._counts = {}, {}, {}
        for s, split in enumerate(corpus.SPLITS):
            rows = np.flatnonzero(self._row_split == s)
            self._word_rows[split] = rows[self._row_label[rows] > UNKNOWN_INDEX]
            self._unknown_pool[split] = rows[self._row_label[rows] == UNKNOWN_INDEX]
            n_words = len(self._word_rows[split])
            n_unknown = math.ceil(n_words * unknown_percentage / 100) if len(self._unknown_pool[split]) else 0
            if split != "training":  # a fixed selection without repeats
                n_unknown = min(n_unknown, len(self._unknown_pool[split]))
            self._counts[split] = {"words": n_words, "unknown": n_unknown,
                                   "silence": math.ceil(n_words * silence_percentage / 100)}
            logger.info("%s: %d wanted-word clips, %d unknown-word clips; per pass %s", split, n_words,
                        len(self._unknown_pool[split]), self._counts[split])
        counts = self._counts["training"]
        self._train_slots = np.concatenate([self._word_rows["training"],
                                            np.full(counts["unknown"], _UNKNOWN_SLOT),
                                            np.full(counts["silence"], _SILENCE_SLOT)]).astype(np.int64)
        self._eval_plans = {split: self._eval_plan(split) for split in ("validation", "testing")}

    def set_teacher(self, teacher_probs):
        """Teacher probabilities {key: probabilities in label order} for the clips they name; datasets
        made afterwards train on packed targets (see `targets`)."""
        table = np.zeros((len(self._keys), len(self.labels)), np.float32)
        has = np.zeros(len(self._keys), bool)
        for row, key in enumerate(self._keys):
            if key in teacher_probs:
                probs = np.asarray(teacher_probs[key], np.float32)
                if probs.shape != (len(self.labels),):
                    raise ValueError(f"teacher probabilities of {key}: shape {probs.shape}, expected "
                                     f"({len(self.labels)},), one per label of {self.labels}")
                table[row], has[row] = probs, True
        logger.info("teacher probabilities for %d of %d clips", has.sum(), len(has))
        self._teacher, self._has_teacher = table, has

    def set_teacher_function(self, teacher_function):
        """An online teacher: `teacher_function(x [n, clip_samples]) -> probabilities [n, C]` labels every
        training sample as the student sees it (augmented, silence included); datasets made
        afterwards train on packed targets."""
        self._teacher_function = teacher_function

    def clip_batches(self, batch_size=256):
        """(keys, float32 [n, clip_samples]) of the training-split and pseudo-labelled clips as recorded (no
        augmentation), in batches: the clips that distillation can give teacher probabilities."""
        rows = np.flatnonzero((self._row_split == corpus.SPLITS.index("training")) | (self._row_split == -1))
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            yield [self._keys[r] for r in chunk], self._cache[chunk].astype(np.float32) / 32768.0

    def clips(self, split):
        """(key, path, label index) of every real clip of a split (other words labelled _unknown_)."""
        rows = np.flatnonzero(self._row_split == corpus.SPLITS.index(_check_split(split)))
        return [(self._keys[r], self._paths[r], int(self._row_label[r])) for r in rows]

    def pseudo_clips(self):
        """(key, path, label index) of the readable pseudo-labelled clips (key: `corpus.read_pseudo_labels`)."""
        return [(self._keys[r], self._paths[r], int(self._row_label[r])) for r in self._pseudo_rows]

    def composition(self, split):
        """Samples per pass of a split: {"words", "unknown", "silence"}."""
        return dict(self._counts[_check_split(split)])

    def split_size(self, split):
        """Samples per epoch (training) or per pass (validation/testing) of a split."""
        return sum(self.composition(split).values())

    def dataset(self, split, batch_size, **pydataset_kwargs):
        """A keras.utils.PyDataset of the split (kwargs: workers, use_multiprocessing, max_queue_size)."""
        if int(batch_size) < 1:
            raise cli.UserError(f"batch_size must be >= 1, got {batch_size}")
        if split == "training" and self.split_size(split) == 0:
            raise cli.UserError(f"no training clips of the wanted words {self.wanted_words} in "
                                f"{[f.data_dir for f in self.folders]}")
        from kws.data import split_dataset  # Keras loads here, not at import: describing a corpus needs no TensorFlow

        return split_dataset.SplitDataset(self, _check_split(split), int(batch_size), **pydataset_kwargs)

    def _noise_slices(self, rng, n):
        """(file, start) of a random one-clip slice of a random noise file, per sample."""
        if not self.noise:
            return np.full(n, -1), np.zeros(n, np.int64)
        files = rng.integers(len(self.noise), size=n)
        spans = self._noise_spans[files]
        return files, (rng.random(n) * spans).astype(np.int64)

    def _eval_plan(self, split):
        """The fixed samples of validation/testing: words, a seeded unknown selection, silence."""
        rng = np.random.default_rng([self.seed, _STREAMS[split]])
        pool, counts = self._unknown_pool[split], self._counts[split]
        unknown = np.sort(rng.choice(pool, size=counts["unknown"], replace=False)) if counts["unknown"] else []
        rows = np.concatenate([self._word_rows[split], unknown, np.full(counts["silence"], -1)]).astype(np.int64)
        n, is_clip = len(rows), rows >= 0
        noisy = rng.random(n) < self.augment.eval_background_frequency
        noise_gain = rng.uniform(*self.augment.background_volume_range, size=n)
        silence_rms = _log_uniform(rng, self.augment.silence_volume_range, n)
        files, starts = self._noise_slices(rng, n)
        return samples.BatchPlan(rows, np.where(is_clip, self._row_label[rows], SILENCE_INDEX), np.zeros(n, np.int64),
                         np.ones(n), np.ones(n), np.where((noisy | ~is_clip) & (files >= 0), files, -1),
                         starts, noise_gain, np.where(is_clip, np.nan, silence_rms), stream_augment.no_windows(n))

    def eval_plan(self, split):
        """The fixed plan of every validation/testing sample (fixed at construction)."""
        if split not in self._eval_plans:
            raise ValueError(f"eval_plan is for 'validation' or 'testing', not {split!r}")
        return self._eval_plans[split]

    def _epoch_slots(self, epoch):
        """The seeded permutation of an epoch's training slots (cached for the current epoch)."""
        cached = self._epoch_order
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, _STREAMS["epoch_order"], epoch])
            cached = (epoch, rng.permutation(self._train_slots))
            self._epoch_order = cached  # one tuple assignment: safe with loader threads
        return cached[1]

    def training_plan(self, epoch, batch_index, batch_size, pseudo_probability=None):
        """What batch `batch_index` of `epoch` holds; a pure function of (seed, epoch, batch_index)."""
        p = self.pseudo_probability if pseudo_probability is None else pseudo_probability
        start = batch_index * batch_size
        slots = self._epoch_slots(epoch)[start:start + batch_size]
        n, a = len(slots), self.augment
        rng = np.random.default_rng([self.seed, _STREAMS["training_batch"], epoch, batch_index])
        rows = slots.copy()
        pool = self._unknown_pool["training"]
        if len(pool):  # every unknown slot draws from the whole pool
            picks = pool[rng.integers(len(pool), size=n)]
            rows[slots == _UNKNOWN_SLOT] = picks[slots == _UNKNOWN_SLOT]
        if len(self._pseudo_rows) and p > 0:
            pseudo = rng.random(n) < p
            rows[pseudo] = self._pseudo_rows[rng.integers(len(self._pseudo_rows), size=n)][pseudo]
        is_clip = rows >= 0
        rows[~is_clip] = -1
        max_shift = int(round(a.time_shift_ms * audio.SAMPLE_RATE / 1000))
        shift = np.where(rng.random(n) < a.time_shift_probability, rng.integers(-max_shift, max_shift + 1, n), 0)
        gain = np.where(rng.random(n) < a.volume_probability, rng.uniform(*a.volume_range, n), 1.0)
        speed = np.where(rng.random(n) < a.speed_probability, rng.uniform(*a.speed_range, n), 1.0)
        noisy = rng.random(n) < a.background_frequency
        noise_gain = rng.uniform(*a.background_volume_range, n)
        silence_rms = _log_uniform(rng, a.silence_volume_range, n)
        files, starts = self._noise_slices(rng, n)
        label = np.where(is_clip, self._row_label[rows], SILENCE_INDEX)
        windows = self._stream_windows(epoch, batch_index, is_clip)
        label[windows["on"] & windows["partial"]] = UNKNOWN_INDEX  # a fragment of a word is no keyword
        return samples.BatchPlan(rows, label, shift, gain, speed, np.where((noisy | ~is_clip) & (files >= 0), files, -1),
                         starts, noise_gain, np.where(is_clip, np.nan, silence_rms), windows)

    def _stream_windows(self, epoch, batch_index, is_clip):
        """Stream-window records of a training batch (stream_augment.plan), from a random stream of
        their own: with stream_probability 0 the other draws, and so the batches, stay as they were."""
        if self.augment.stream_probability == 0:
            return stream_augment.no_windows(len(is_clip))
        rng = np.random.default_rng([self.seed, _STREAMS["stream_window"], epoch, batch_index])
        pool = np.concatenate([self._word_rows["training"], self._unknown_pool["training"]])
        return stream_augment.plan(rng, is_clip, self.augment, pool, self._noise_slices)

    def render(self, plan):
        """The float32 waveforms [n, clip_samples] of a plan (`samples.render` of this processor's clips and noise)."""
        return samples.render(plan, self._cache, self.noise, self.augment.circular_shift)

    def targets(self, plan, packed, x=None):
        """int32 labels, or float32 [n, 2C+1] = [one-hot | teacher probs | has-teacher mask]; an online
        teacher labels the rendered samples `x` (stream-window fragments included: it hears what the
        student hears), a table teacher gives none for a fragment relabelled _unknown_."""
        if not packed:
            return plan.label.astype(np.int32)
        n, c = len(plan), len(self.labels)
        y = np.zeros((n, 2 * c + 1), np.float32)
        y[np.arange(n), plan.label] = 1.0
        if self._teacher_function is not None:
            y[:, c:2 * c] = self._teacher_function(x)
            y[:, 2 * c] = 1.0
            return y
        has = (plan.rows >= 0) & ~(plan.window["on"] & plan.window["partial"])  # relabelled fragments: no teacher
        has[has] = self._has_teacher[plan.rows[has]]
        y[has, c:2 * c] = self._teacher[plan.rows[has]]
        y[:, 2 * c] = has
        return y


def _check_split(split):
    if split not in corpus.SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {corpus.SPLITS}")
    return split


def describe(ap):
    """A JSON-able summary of an AudioProcessor's data (what the command line prints)."""
    splits, speakers = {}, {}
    for split in corpus.SPLITS:
        clips = ap.clips(split)
        speakers[split] = {corpus.speaker_of(key) for key, _, _ in clips}
        splits[split] = {
            "clips": len(clips), "speakers": len(speakers[split]),
            "samples_per_pass": ap.split_size(split), "composition": ap.composition(split),
            "labels": dict(collections.Counter(ap.labels[i] for _, _, i in clips)),
            "words": dict(sorted(collections.Counter(key.split("/")[0] for key, _, _ in clips).items())),
        }
    noise_seconds = [len(x) / audio.SAMPLE_RATE for x in ap.noise]
    return {
        "data_dirs": [{"path": f.data_dir, "audio_root": f.audio_root, "split_by": f.split_by,
                       "wav_files": len(f.clips), "missing_list_entries": f.missing_list_entries}
                      for f in ap.folders],
        "labels": ap.labels,
        "splits": splits,
        "speakers_disjoint": not ap.speakers_in_several_splits,
        "speakers_in_several_splits": ap.speakers_in_several_splits,
        "pseudo_clips": len(ap.pseudo_clips()),
        "unreadable": [{"path": path, "problem": problem} for path, problem in ap.unreadable],
        "noise": {"files": len(ap.noise), "seconds": round(sum(noise_seconds), 1),
                  "paths": ap.noise_paths},
        "cache_bytes": ap.cache_bytes,
        "clip_bytes": ap.clip_samples * 2,
    }


def format_description(report):
    """The description as readable text."""
    lines = [f"{d['path']}: {d['wav_files']} clip files under {d['audio_root']}, split by {d['split_by']}, "
             f"{len(d['missing_list_entries'])} list entries without a file" for d in report["data_dirs"]]
    lines.append(f"labels ({len(report['labels'])}): {' '.join(report['labels'])}")
    lines.append(f"{'split':<11}{'clips':>7}{'speakers':>10}  samples per pass (words + unknown + silence)")
    for split, s in report["splits"].items():
        c = s["composition"]
        lines.append(f"{split:<11}{s['clips']:>7}{s['speakers']:>10}  {s['samples_per_pass']} = "
                     f"{c['words']} + {c['unknown']} + {c['silence']}")
    lines.append(f"{'clips per label':<16}" + "".join(f"{split:>12}" for split in corpus.SPLITS))
    for label in report["labels"][1:]:
        lines.append(f"  {label:<14}" + "".join(f"{report['splits'][s]['labels'].get(label, 0):>12}"
                                                 for s in corpus.SPLITS))
    crossing = report["speakers_in_several_splits"]
    lines.append("speakers in several splits: " + (f"{len(crossing)} (e.g. {crossing[:5]})" if crossing
                                                    else "none (splits are speaker-disjoint)"))
    lines.append(f"pseudo-labelled clips: {report['pseudo_clips']}")
    lines.append(f"unreadable files: {len(report['unreadable'])}")
    lines += [f"  {u['path']}: {u['problem']}" for u in report["unreadable"]]
    noise = report["noise"]
    lines.append(f"noise files: {noise['files']}, {noise['seconds']:.1f} s in total")
    lines.append(f"clip cache: {report['cache_bytes'] / 1e6:.1f} MB ({report['clip_bytes']} bytes per clip)")
    return "\n".join(lines)


# The settings that change what the description counts (the same flags as train.py's).
DESCRIBE_SETTINGS = ("clip_duration_ms", "wanted_words", "silence_percentage", "unknown_percentage",
                     "validation_percentage", "testing_percentage", "pseudo_labels", "seed")


def main(argv=None):
    """Describes the data folders given on the command line; returns the description dict."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+", metavar="DATA_DIR",
                        help="data folder(s): X/ with audio/<word>/, X/ with <word>/, or X/audio")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--decode_workers", type=int, default=None,
                        help="threads decoding the clips (default: one per CPU)")
    settings.add_arguments(parser, DESCRIBE_SETTINGS)  # train.py's flags, defaults and help texts
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    values = {**settings.resolve({}, args), "data_dir": args.data_dirs}
    ap = AudioProcessor.from_settings(values, decode_workers=args.decode_workers)
    report = describe(ap)
    print(json.dumps(report, indent=2) if args.json else format_description(report))
    return report

