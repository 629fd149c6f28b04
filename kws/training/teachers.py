"""Distillation teachers of train.py: where a student's soft targets come from.

- A probability file (`teacher_probs`, any file `probs.read_probs` reads): its columns mapped to the
  model labels (`labels.model_label`: the 12 Kaggle labels serve a 12-class model), its fnames
  matched to clip keys (a training clip's path under the audio root, a pseudo-labelled clip's path
  relative to its CSV's folder; a bare base name matches the one clip of that name).
- Teacher runs (`teacher_runs`): the mean of their probabilities, with the winning entry's TTA
  (`teacher_tta`: tta.leftloud_variants), on every clip that can carry teacher probabilities, computed
  once (the run keeps them as teacher_probs.csv), or online, on every augmented sample as the student sees it
  (`teacher_online`). A teacher run takes clips of its own length (its model's input): it must be
  the student's (`clip_duration_ms`).

This module is a library: nothing runs at import.
"""

import logging
import os

import numpy as np
import tensorflow as tf

from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.models import model
from kws.submit import probs as prob_files
from kws import runs
from kws.training import settings
from kws.submit import tta

log = logging.getLogger("train")

TEACHER_BATCH = 256  # clips per teacher call (one input shape: no retracing)


def _index_data(values):
    """(model labels, training + pseudo-labelled clip keys, every clip key), without decoding audio."""
    folders = corpus.index_folders(values["data_dir"], values["validation_percentage"], values["testing_percentage"])
    clips = [clip for folder in folders for clip in folder.clips]
    training = {key for key, _, _, split in clips if split == "training"}
    pseudo = [key for key, _, _ in corpus.read_pseudo_label_files(values["pseudo_labels"])]
    wanted = corpus.resolve_wanted_words(settings.wanted_words_argument(values), sorted({c[2] for c in clips}))
    return label_sets.model_labels(wanted), training | set(pseudo), [c[0] for c in clips] + pseudo


def _teacher_columns(table, model_labels):
    """Column index per model label of a teacher's probability table (Kaggle names are mapped), or a clear error."""
    columns = [label_sets.model_label(c.strip()) for c in table.classes]
    missing = [label for label in model_labels if label not in columns]
    extra = [c for c in columns if c not in model_labels]
    if missing or extra or len(columns) != len(model_labels):
        raise cli.UserError(f"{table.source}: the columns {table.classes} do not match the model labels {model_labels} "
                            f"(missing {missing}, unexpected {extra}); give probabilities over the model's labels "
                            "or, for a 12-class model, the 12 Kaggle labels")
    return [columns.index(label) for label in model_labels]


def _clip_key(fname, keys_by_name, path):
    """The clip key a teacher fname names: itself, or for a bare base name (a test clip) the one clip of that name."""
    fname = fname.strip().replace("\\", "/")
    if "/" in fname:
        return fname
    keys = keys_by_name.get(fname, set())
    if len(keys) > 1:
        raise cli.UserError(f"{path}: {fname} names {len(keys)} clips ({sorted(keys)[:3]}); "
                            "write fnames relative to the audio root (word/file.wav)")
    return next(iter(keys), fname)


def from_probability_file(values):
    """(teacher probabilities {clip key: probabilities}, the model labels they are in) of the setting
    `teacher_probs`, matched to the clips of the data folders without decoding them."""
    model_labels, training_keys, every_key = _index_data(values)
    return read_teacher_probs(values["teacher_probs"], model_labels, training_keys, every_key), model_labels


def read_teacher_probs(path, model_labels, training_keys, every_key):
    """{clip key: float32 probabilities in model label order} of the rows of a probability file
    (`probs.read_probs`, which checks every row) that match training clips."""
    table = prob_files.read_probs(path)
    order = _teacher_columns(table, model_labels)
    keys_by_name = {}
    for key in every_key:
        keys_by_name.setdefault(os.path.basename(key), set()).add(key)
    probs = {}
    for fname, values in zip(table.fnames, table.values):
        key = _clip_key(fname, keys_by_name, path)
        if key in training_keys:
            probs[key] = values[order]
    if not probs:
        raise cli.UserError(f"{path}: none of its {len(table.fnames)} rows matches a training clip (fname = path "
                            "relative to the audio root such as yes/0a1b_nohash_0.wav, or the base name of a "
                            "pseudo-labelled clip)")
    log.info("teacher probabilities: %d of %d rows of %s match training clips", len(probs), len(table.fnames), path)
    return probs


def teacher_from_runs(processor, values, cached_path):
    """(keys, probabilities [n, C]): the mean over `teacher_runs` (with `teacher_tta`) of every clip that
    can carry teacher probabilities; read from `cached_path` when a resumed run wrote it before."""
    if os.path.isfile(cached_path):
        table = prob_files.read_probs_csv(cached_path)
        if table.classes != processor.labels:
            raise cli.UserError(f"{cached_path}: columns {table.classes} are not the run's labels {processor.labels}")
        log.info("teacher probabilities of %d clips from %s", len(table.fnames), cached_path)
        return table.fnames, table.values
    variants = tta.leftloud_variants() if values["teacher_tta"] else tta.tta_variants()
    keys, total = [], 0.0
    for run_dir in values["teacher_runs"]:
        teacher = load_teacher(run_dir, processor.labels, processor.clip_samples)
        keys, parts = [], []
        for batch_keys, clips in processor.clip_batches(TEACHER_BATCH):
            x = np.stack([variant.apply(clips) for variant in variants])
            parts.append(tta.predict_variants(teacher, x, TEACHER_BATCH))
            keys += batch_keys
        total = total + np.concatenate(parts)
        log.info("teacher %s: probabilities of %d clips, %d variant(s) each", run_dir, len(keys), len(variants))
    return keys, total / len(values["teacher_runs"])


def load_teacher(run_dir, labels, clip_samples):
    """A teacher run's Keras model, checked to have `labels` and to take clips of `clip_samples`."""
    teacher, teacher_labels, _ = runs.load_run(run_dir)
    if teacher_labels != labels:
        raise settings.SettingsError(f"teacher_runs {run_dir}: its labels {teacher_labels} differ from this "
                                     f"run's {labels}")
    if model.clip_samples_of(teacher) != clip_samples:
        raise settings.SettingsError(f"teacher_runs {run_dir}: its model takes clips of "
                                     f"{model.clip_samples_of(teacher)} samples, this run's of {clip_samples} "
                                     "(clip_duration_ms must be the teacher's)")
    return teacher


def online_teacher(teacher_runs, labels, clip_samples):
    """x [n, clip_samples] -> the teachers' mean probabilities [n, C] (thread-safe: the loader threads call it)."""
    signature = [tf.TensorSpec([None, clip_samples], tf.float32)]  # one trace for every batch size
    functions = [tf.function(lambda x, m=load_teacher(run_dir, labels, clip_samples): m(x, training=False),
                             input_signature=signature)
                 for run_dir in teacher_runs]
    for function in functions:  # traced here, once: the loader threads' first calls would each trace it
        function(tf.zeros([1, clip_samples]))
    log.info("online teacher: %d run(s) label every training sample", len(functions))
    return lambda x: np.mean([np.asarray(f(x)) for f in functions], axis=0)
