"""The epoch loop of `train.py`: training steps, schedules, logs, checkpoints and the resume state.

- The training step (`make_train_step`) is a custom `tf.function` under a `tf.distribute`
  strategy: each global batch is split across the replicas, gradients are summed by the Keras
  optimizer (the loss is divided by the global batch size first), so one or several replicas
  compute the same average gradient. The loss is the cross-entropy of the hard label (with label
  smoothing) and, for samples that have teacher probabilities, the distillation loss
  `(1-w) CE + w T^2 KL(teacher_T || student_T)` (`per_example_loss`); samples labelled `_silence_`
  or `_unknown_` weigh `negative_weight` (a false accept costs more than a miss, as a spotter's
  user counts them), ramped up from 1 over `negative_weight_ramp_epochs` (`negative_weight`).
- Schedules are pure functions of the settings and the position in training (`learning_rate`,
  `pseudo_probability`, `negative_weight`); the only schedule with memory, reduce-on-plateau, keeps it in the
  progress record.
- After each epoch: validation accuracy over the whole validation split (and the Kaggle 12-label
  accuracy), a log line, `log.csv` and TensorBoard scalars (both rewritten from the progress
  record, so a resumed run's logs equal an uninterrupted run's), the best checkpoint
  `ep-<epoch>-va-<val_acc>.keras` copied to `best.keras` (older epoch checkpoints are deleted).
- Resume state: `state/resume.npz`, one file replaced atomically, holding every model variable
  (including the dropout seed-generator states, which `.keras` files do not store), every
  optimizer variable (step count, learning rate, moments) and the progress record as JSON (epoch,
  batch position, running sums of the epoch, schedule state, best so far, log rows, times). It is
  saved every N steps / seconds and at each epoch end; the data pipeline needs no state, since a
  training batch is a pure function of (seed, epoch, batch index).

This module is a library: nothing runs at import.
"""

import collections
import concurrent.futures
import contextlib
import csv
import glob
import json
import logging
import math
import os
import shutil
import time

import numpy as np
import tensorflow as tf

from kws import cli
from kws import runs
from kws.training import train_metrics
from kws.data.labels import kaggle_label

log = logging.getLogger(__name__)

LOG_COLUMNS = ("epoch", "learning_rate", "loss", "accuracy", "val_accuracy", "val_kaggle_accuracy",
               "pseudo_probability", "seconds")
_EPSILON = 1e-7
NEGATIVE_CLASSES = 2  # labels.model_labels: _silence_, _unknown_, then the words


def learning_rate(values, epoch, epoch_fraction, plateau_rate):
    """The rate at `epoch` (0-based) + `epoch_fraction` of it done; `plateau_rate` from the progress."""
    base, elapsed_epochs = values["learning_rate"], epoch + epoch_fraction
    schedule = values["lr_schedule"]
    if schedule == "plateau":
        rate = plateau_rate
    elif schedule == "cosine":
        done = min(elapsed_epochs / values["epochs"], 1.0)
        rate = values["lr_min"] + 0.5 * (base - values["lr_min"]) * (1.0 + math.cos(math.pi * done))
    elif schedule == "steps":
        drops = sum(epoch >= boundary for boundary in values["lr_step_epochs"])
        if drops and values["lr_step_values"]:
            rate = values["lr_step_values"][drops - 1]
        else:
            rate = base * values["lr_step_factor"] ** drops
    else:
        rate = base
    if elapsed_epochs < values["lr_warmup_epochs"]:
        rate *= elapsed_epochs / values["lr_warmup_epochs"]
    return rate


def pseudo_probability(values, epoch):
    """Share of pseudo-labelled samples in `epoch` (0-based): 1.0, then a ramp, then the ratio."""
    if not values["pseudo_labels"]:
        return None
    only, ramp, ratio = values["pseudo_only_epochs"], values["pseudo_ramp_epochs"], values["pseudo_ratio"]
    if epoch < only:
        return 1.0
    if epoch < only + ramp:
        return 1.0 + (ratio - 1.0) * (epoch - only + 1) / (ramp + 1)
    return ratio


def negative_weight(values, epoch):
    """Loss weight of the negative samples in `epoch` (0-based): `negative_weight`, reached linearly from 1
    over `negative_weight_ramp_epochs` (a model first learns the words, then to reject what is not one)."""
    target, ramp = values["negative_weight"], values["negative_weight_ramp_epochs"]
    if epoch >= ramp:
        return target
    return 1.0 + (target - 1.0) * (epoch + 1) / (ramp + 1)


def per_example_loss(y, probs, num_classes, label_smoothing, distill_temperature, distill_weight,
                     negative_weight=1.0):
    """Loss per sample; `y` holds class indices, or packed [one-hot | teacher probs | mask]. Samples whose
    hard label is one of the first two classes (labels.model_labels puts _silence_ and _unknown_ there)
    weigh `negative_weight` times."""
    log_probs = tf.math.log(tf.clip_by_value(probs, _EPSILON, 1.0))
    if y.shape.rank == 1:
        hard = tf.one_hot(tf.cast(y, tf.int32), num_classes)
    else:
        hard = y[:, :num_classes]
    weights = 1.0 + (negative_weight - 1.0) * tf.reduce_sum(hard[:, :NEGATIVE_CLASSES], axis=-1)
    return weights * _unweighted_loss(y, hard, log_probs, num_classes, label_smoothing, distill_temperature,
                                      distill_weight)


def _unweighted_loss(y, hard, log_probs, num_classes, label_smoothing, distill_temperature, distill_weight):
    if label_smoothing:
        hard = hard * (1.0 - label_smoothing) + label_smoothing / num_classes
    cross_entropy = -tf.reduce_sum(hard * log_probs, axis=-1)
    if y.shape.rank == 1:
        return cross_entropy
    teacher, mask = y[:, num_classes:2 * num_classes], y[:, 2 * num_classes]
    temperature = distill_temperature
    teacher_soft = tf.nn.softmax(tf.math.log(tf.clip_by_value(teacher, _EPSILON, 1.0)) / temperature)
    student_log_soft = tf.nn.log_softmax(log_probs / temperature)
    kl = tf.reduce_sum(tf.math.xlogy(teacher_soft, teacher_soft) - teacher_soft * student_log_soft, axis=-1)
    distilled = (1.0 - distill_weight) * cross_entropy + distill_weight * temperature ** 2 * kl
    return tf.where(mask > 0.5, distilled, cross_entropy)


def make_train_step(model, optimizer, strategy, num_classes, values):
    """A tf.function (x, y, batch size) -> (summed loss, correct count) that trains one global batch."""
    loss_options = {key: values[key] for key in ("label_smoothing", "distill_temperature", "distill_weight")}

    def replica_step(x, y, global_batch, negative_weight):
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            losses = per_example_loss(y, probs, num_classes, **loss_options, negative_weight=negative_weight)
            loss = tf.reduce_sum(losses) / global_batch
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        truth = tf.cast(y, tf.int64) if y.shape.rank == 1 else tf.argmax(y[:, :num_classes], axis=-1)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probs, axis=-1), truth), tf.float32))
        return tf.reduce_sum(losses), correct

    @tf.function(reduce_retracing=True)
    def step(x, y, global_batch, negative_weight):
        loss_sum, correct = strategy.run(replica_step, args=(x, y, global_batch, negative_weight))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None))

    def train_batch(x, y, negative_weight=1.0):
        split = [np.array_split(a, strategy.num_replicas_in_sync) for a in (x, y)]
        x_parts, y_parts = (strategy.experimental_distribute_values_from_function(
            lambda context, parts=parts: parts[context.replica_id_in_sync_group]) for parts in split)
        loss_sum, correct = step(x_parts, y_parts, tf.constant(len(x), tf.float32),
                                 tf.constant(negative_weight, tf.float32))
        return float(loss_sum), int(correct)

    return train_batch


def prefetched(load, indices, threads):
    """Yields (index, load(index)) in order while up to `threads` later loads run in the background."""
    indices = iter(indices)
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        pending = collections.deque()
        for index in indices:
            pending.append((index, pool.submit(load, index)))
            if len(pending) > threads:
                index, future = pending.popleft()
                yield index, future.result()
        while pending:
            index, future = pending.popleft()
            yield index, future.result()


def predict(predict_fn, dataset, threads):
    """Probabilities [n, C] of a validation/testing dataset, in dataset order."""
    parts = [np.asarray(predict_fn(x)) for _, (x, _) in prefetched(dataset.__getitem__, range(len(dataset)), threads)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def new_progress(values):
    """The progress record of a run that has not started."""
    return {"epoch": 0, "batch": 0, "global_step": 0, "loss_sum": 0.0, "correct": 0, "samples": 0,
            "plateau": {"rate": values["learning_rate"], "best": None, "wait": 0},
            "best": {"epoch": None, "val_accuracy": -1.0, "val_kaggle_accuracy": None, "checkpoint": None},
            "rows": [], "elapsed_seconds": 0.0, "train_seconds": 0.0, "train_samples": 0,
            "finished": False, "stop_reason": None}


def save_state(run_dir, model, optimizer, progress):
    """Writes state/resume.npz atomically (temporary file, fsync, rename)."""
    arrays = {f"model_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays.update({f"optimizer_{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
    arrays["progress"] = np.array(json.dumps(progress))

    def write(tmp):
        with open(tmp, "wb") as f:  # a file object: np.savez would add .npz to a name
            np.savez(f, **arrays)
    cli.write_atomic(os.path.join(run_dir, runs.STATE_FILE), write, fsync=True)  # a power cut must not lose the state


def load_state(run_dir, model, optimizer):
    """Restores model and optimizer variables from state/resume.npz; returns the progress record."""
    path = os.path.join(run_dir, runs.STATE_FILE)
    with np.load(path, allow_pickle=False) as arrays:
        stored = {key: arrays[key] for key in arrays.files}
    for prefix, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
        count = sum(key.startswith(f"{prefix}_") for key in stored)
        if count != len(variables):
            raise ValueError(f"{path}: holds {count} {prefix} variables, this run has {len(variables)} "
                             "(was the model or optimizer changed?)")
        for i, variable in enumerate(variables):
            value = stored[f"{prefix}_{i}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"{path}: {prefix} variable {variable.path} has shape {value.shape}, "
                                 f"expected {tuple(variable.shape)}")
            variable.assign(value)
    return json.loads(str(stored["progress"]))


def write_log_csv(run_dir, rows):
    """log.csv: one row per finished epoch, rewritten atomically from the progress record."""
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    cli.write_atomic(os.path.join(run_dir, runs.LOG_FILE), write)


def _atomic_copy(source, destination):
    cli.write_atomic(destination, lambda tmp: shutil.copyfile(source, tmp))


def remove_stale_checkpoints(run_dir, keep):
    """Deletes epoch checkpoints other than `keep` (the best one) and leftover temporary files."""
    for path in glob.glob(os.path.join(run_dir, runs.CHECKPOINT_GLOB)) + glob.glob(os.path.join(run_dir, "*.tmp*")):
        if os.path.basename(path) != keep:
            os.remove(path)


class Trainer:
    """Runs the epochs of one run from its progress record to the end (or the time budget)."""

    def __init__(self, values, strategy, model, optimizer, data, run_dir, progress):
        self.values, self.strategy, self.model, self.optimizer = values, strategy, model, optimizer
        self.train_ds, self.val_ds, self.labels = data["train"], data["validation"], data["labels"]
        self.val_true = self.val_ds.labels_array()
        # The Kaggle 12-label accuracy says something new only when labels map to other Kaggle labels.
        self.all_words = [kaggle_label(label) for label in self.labels] != [label.strip("_") for label in self.labels]
        self.run_dir, self.progress = run_dir, progress
        self.train_batch = make_train_step(model, optimizer, strategy, len(self.labels), values)
        self.predict_fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self.multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        # Time-triggered saves could differ between workers; step-triggered ones cannot.
        self.save_every_seconds = 0.0 if self.multiworker else values["save_state_every_seconds"]
        self.last_save = time.monotonic()
        shutil.rmtree(os.path.join(run_dir, runs.TENSORBOARD_DIR), ignore_errors=True)
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, runs.TENSORBOARD_DIR))
        for row in progress["rows"]:  # a resumed run rewrites its scalars: no duplicates, no gaps
            self._write_scalars(row)

    def finished(self):
        """True when the run needs no more epochs (rechecked: a resume may raise epochs or the budget)."""
        p = self.progress
        if p["finished"] and p["rows"]:
            p["stop_reason"] = self._stop_reason(p["rows"][-1]["seconds"])
            p["finished"] = p["stop_reason"] is not None
        return p["finished"]

    def run(self):
        """Trains the remaining epochs; returns the final progress record."""
        best = self.progress["best"]["checkpoint"]
        # A run killed between writing a checkpoint and saving its state: the state is the truth.
        remove_stale_checkpoints(self.run_dir, best)
        best_path = os.path.join(self.run_dir, runs.BEST_CHECKPOINT)
        if best and os.path.isfile(os.path.join(self.run_dir, best)):
            _atomic_copy(os.path.join(self.run_dir, best), best_path)
        elif not best and os.path.isfile(best_path):
            os.remove(best_path)
        while not self.finished():
            epoch = self.progress["epoch"]
            started = time.monotonic()
            self._train_epoch(epoch)
            self._end_epoch(epoch, started)
        return self.progress

    def _epoch_steps(self):
        steps = len(self.train_ds)
        return min(steps, self.values["steps_per_epoch"]) if self.values["steps_per_epoch"] else steps

    def _train_epoch(self, epoch):
        p, values = self.progress, self.values
        self.train_ds.set_epoch(epoch, pseudo_probability=pseudo_probability(values, epoch))
        steps = self._epoch_steps()
        weight = negative_weight(values, epoch)
        clock = time.monotonic()
        for batch, (x, y) in prefetched(self.train_ds.__getitem__, range(p["batch"], steps), values["loader_threads"]):
            rate = learning_rate(values, epoch, batch / steps, p["plateau"]["rate"])
            self.optimizer.learning_rate.assign(rate)
            loss_sum, correct = self.train_batch(x, y, weight)
            now = time.monotonic()
            p["train_seconds"] += now - clock
            p["elapsed_seconds"] += now - clock
            clock = now
            p["batch"], p["global_step"] = batch + 1, p["global_step"] + 1
            p["loss_sum"] += loss_sum
            p["correct"] += correct
            p["samples"] += len(x)
            p["train_samples"] += len(x)
            if batch + 1 < steps and self._save_due():
                self._save()
                clock = time.monotonic()  # saving is not training time

    def _save_due(self):
        every_steps = self.values["save_state_every_steps"]
        if every_steps and self.progress["global_step"] % every_steps == 0:
            return True
        return bool(self.save_every_seconds) and time.monotonic() - self.last_save >= self.save_every_seconds

    def _save(self):
        save_state(self.run_dir, self.model, self.optimizer, self.progress)
        self.last_save = time.monotonic()

    @contextlib.contextmanager
    def _averaged_weights(self):
        """With `ema_momentum`: the optimizer's moving averages of the weights stand in for the weights
        (validation and checkpoints use them); the raw weights come back afterwards for training."""
        if not self.optimizer.use_ema:
            yield
            return
        trainable = self.model.trainable_variables
        raw = [v.numpy() for v in trainable]
        # Keras keeps the averages in the optimizer's variables (so the resume state holds them).
        for variable, average in zip(trainable, self.optimizer._model_variables_moving_average):
            variable.assign(average)
        try:
            yield
        finally:
            for variable, value in zip(trainable, raw):
                variable.assign(value)

    def _end_epoch(self, epoch, started):
        with self._averaged_weights():
            self._validate_epoch(epoch, started)
        self._save()
        remove_stale_checkpoints(self.run_dir, self.progress["best"]["checkpoint"])

    def _validate_epoch(self, epoch, started):
        p, values = self.progress, self.values
        validation_started = time.monotonic()
        predicted = np.argmax(predict(self.predict_fn, self.val_ds, values["loader_threads"]), axis=-1)
        val_accuracy = train_metrics.accuracy(predicted, self.val_true)
        val_kaggle = train_metrics.kaggle_accuracy(predicted, self.val_true, self.labels)
        steps = self._epoch_steps()
        last_rate = learning_rate(values, epoch, (steps - 1) / steps, p["plateau"]["rate"])
        row = {"epoch": epoch + 1, "learning_rate": last_rate,
               "loss": p["loss_sum"] / max(p["samples"], 1), "accuracy": p["correct"] / max(p["samples"], 1),
               "val_accuracy": val_accuracy, "val_kaggle_accuracy": val_kaggle,
               "pseudo_probability": pseudo_probability(values, epoch), "seconds": round(time.monotonic() - started, 3)}
        if val_accuracy > p["best"]["val_accuracy"]:
            self._save_best(epoch, val_accuracy, val_kaggle)
        self._update_plateau(val_accuracy)
        p["rows"].append(row)
        p.update(epoch=epoch + 1, batch=0, loss_sum=0.0, correct=0, samples=0)
        p["elapsed_seconds"] += time.monotonic() - validation_started
        p["stop_reason"] = self._stop_reason(row["seconds"])
        p["finished"] = p["stop_reason"] is not None
        log.info("epoch %d/%d  lr %.3g  loss %.4f  accuracy %.4f  val_accuracy %.4f%s  (%.1f s)%s",
                 epoch + 1, values["epochs"], row["learning_rate"], row["loss"], row["accuracy"], val_accuracy,
                 f"  val_kaggle_accuracy {val_kaggle:.4f}" if self.all_words else "", row["seconds"],
                 "  (best)" if p["best"]["epoch"] == epoch + 1 else "")
        write_log_csv(self.run_dir, p["rows"])
        self._write_scalars(row)

    def _save_best(self, epoch, val_accuracy, val_kaggle):
        name = runs.checkpoint_name(epoch + 1, val_accuracy)
        path = cli.write_atomic(os.path.join(self.run_dir, name), self.model.save, suffix=".keras")
        _atomic_copy(path, os.path.join(self.run_dir, runs.BEST_CHECKPOINT))
        self.progress["best"] = {"epoch": epoch + 1, "val_accuracy": val_accuracy,
                                 "val_kaggle_accuracy": val_kaggle, "checkpoint": name}

    def _update_plateau(self, val_accuracy):
        plateau = self.progress["plateau"]
        if plateau["best"] is None or val_accuracy > plateau["best"]:
            plateau.update(best=val_accuracy, wait=0)
            return
        plateau["wait"] += 1
        if self.values["lr_schedule"] == "plateau" and plateau["wait"] >= self.values["lr_plateau_patience"]:
            plateau.update(rate=max(plateau["rate"] * self.values["lr_plateau_factor"], self.values["lr_min"]), wait=0)
            log.info("validation accuracy has not improved: learning rate now %.3g", plateau["rate"])

    def _stop_reason(self, epoch_seconds):
        """None to go on; else why training ends (all epochs, or the next one would pass the budget)."""
        if self.progress["epoch"] >= self.values["epochs"]:
            return "epochs"
        budget_seconds = 60.0 * self.values["max_minutes"]
        over = bool(budget_seconds) and self.progress["elapsed_seconds"] + epoch_seconds > budget_seconds
        if self.multiworker:  # every worker must stop at the same epoch
            flags = self.strategy.experimental_distribute_values_from_function(lambda _: tf.constant(float(over)))
            over = bool(self.strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None).numpy() > 0)
        return "max_minutes" if over else None

    def _write_scalars(self, row):
        # tf.summary.scalar needs the tensorboard package; this writes the same event records
        # with TensorFlow alone (viewing them needs `pip install tensorboard`).
        plugin = tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars")
        metadata = tf.compat.v1.SummaryMetadata(plugin_data=plugin)
        with self.writer.as_default():
            for key in ("learning_rate", "loss", "accuracy", "val_accuracy", "val_kaggle_accuracy"):
                value = tf.constant(row[key], tf.float32)
                tf.summary.write(f"epoch_{key}", value, step=row["epoch"], metadata=metadata)
        self.writer.flush()
