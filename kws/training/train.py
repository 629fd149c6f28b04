"""Trains one keyword-spotting model and writes its run folder.

    python train.py --experiment 195                  # experiments/195_*.toml -> runs/195_pi_distilled/
    python train.py --experiment 000 --epochs 2 --data_dir data/synth/train --run_dir runs/try
    python train.py --run_dir runs/mine --model ds_cnn --optimizer sgd --learning_rate 0.05
    python train.py --experiment 195 --resume         # continue a killed run exactly where it stopped
    python train.py --help                            # every setting, its flag and its default

Settings (see settings.py): defaults < experiment file `experiments/<number>_<name>.toml` <
command-line flags; `--experiment` takes the number, the file stem or a path. Without an
experiment file give `--run_dir`. The clip length is a setting like any other (`--clip_duration_ms`,
default 1000; a corpus of long phrases from make_synthetic_dataset.py `--clip_ms` needs its
corpus.json's `clip_ms`): it is the model's input length, which every later script reads from the run.

Reads the dataset folders (`--data_dir`, any layout corpus.py accepts), optionally
pseudo-label CSVs (`path,label`, mixed in by `--pseudo_ratio`, with `--pseudo_only_epochs` and
`--pseudo_ramp_epochs`) and a teacher: either a probability CSV (`--teacher_probs`,
`fname,<labels>` as make_submission.py/ensemble.py write it; columns are the model's labels or the
12 Kaggle labels, `silence`/`unknown` meaning `_silence_`/`_unknown_`), or teacher run folders
(`--teacher_runs R1 R2 ...`, with this run's labels), whose mean probabilities (with the winning
entry's TTA, `--teacher_tta`) of every training-split and pseudo-labelled clip are computed once
and kept in the run as `teacher_probs.csv` (fname = clip key). Teacher CSV rows match training
clips by their path relative to the audio root (`yes/0a1b_nohash_0.wav`) and pseudo-labelled
clips by their path relative to their CSV's folder (`audio/yes/clip_0a1b.wav`); fnames without a
folder match by base name (test clips), and a base name shared by several clips is an error.

`--init_from RUN_DIR` (or a .keras file) starts from another run's weights instead of random ones:
fine-tuning, e.g. on real clips after pre-training on the synthetic corpus.

Writes `runs/<experiment stem>/` (or `--run_dir`; an existing run is an error unless `--resume` or
`--overwrite`): config.json (resolved settings, seed, git commit, labels), labels.txt,
ep-<epoch>-va-<val_acc>.keras (the best epoch; older ones are deleted), best.keras (its copy),
log.csv (epoch, learning_rate, loss, accuracy, val_accuracy, val_kaggle_accuracy,
pseudo_probability, seconds), teacher_probs.csv (with `--teacher_runs`), tensorboard/ (the same scalars; written with TensorFlow alone,
viewing needs `pip install tensorboard`), state/resume.npz (resume state), and at the end
confusion_matrix.png and metrics.json (best checkpoint, epoch and validation accuracies; test,
Kaggle 12-label and per-class accuracy of the testing split scored with the best checkpoint;
epochs trained, why training stopped, training time and samples/s). One log line per epoch.

Resume (`--resume`): the run's config.json gives the settings (only epochs, max_minutes,
save_state_every_* and loader_threads may change); state/resume.npz gives the model and optimizer
variables, the dropout seed states, the epoch, the batch position, the running sums of the
epoch, the schedule state, the best so far and the log rows. It is replaced atomically every
`--save_state_every_steps` steps / `--save_state_every_seconds` seconds and at each epoch end, so a
run killed at any moment (even `kill -9`) resumes and ends as the uninterrupted run would.
`--resume` of a folder without a run starts one. Multi-worker resume needs the run folder on a
file system shared by the workers (the chief writes it; the others write to temporary folders).

Scaling out (`--strategy`): `default` (one device), `mirrored` (tf.distribute.MirroredStrategy
over every GPU, or every logical CPU device when there is no GPU), `multiworker`
(MultiWorkerMirroredStrategy configured by TF_CONFIG; state saves are then step-triggered only,
and the workers agree on the `--max_minutes` stop). Model and optimizer are built in the
strategy's scope; each global batch is split across the replicas (every worker prepares the
whole batch and keeps its replicas' share), so the gradient is that of the whole batch whatever
the replica count.

Determinism: seeds from `--seed` and `tf.config.experimental.enable_op_determinism()`; data
batches are pure functions of (seed, epoch, batch). The same settings on the same machine,
software and device count give the same weights and metrics. Remaining nondeterminism: float
results can differ across CPU types, thread counts, TensorFlow/oneDNN versions and replica
counts (a mirrored run sums gradients in another order and keeps batch-norm statistics per
replica); every replica draws the same dropout masks for its share of the batch; training and
sample-rate times, `seconds` in log.csv, and `--max_minutes` stops depend on the clock.
"""

import argparse
import datetime
import glob
import logging
import os
import shutil
import subprocess
import tempfile

import keras
import numpy as np
import tensorflow as tf

from kws import cli
from kws.data import input_data
from kws.data import labels as label_sets
from kws.models import model as model_zoo
from kws.submit import probs as prob_files
from kws import runs
from kws.training import settings
from kws.training import teachers
from kws.training import train_loop
from kws.training import train_metrics

log = logging.getLogger("train")



def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", help="experiment number (e.g. 195), file stem or .toml path")
    parser.add_argument("--experiments_dir", default=os.path.join(runs.PROJECT_DIR, "experiments"),
                        help="folder of the experiment files (default: experiments/ next to train.py)")
    parser.add_argument("--run_dir", help="run folder (default: runs/<experiment file stem>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in the run folder")
    parser.add_argument("--overwrite", action="store_true", help="delete an existing run in the run folder first")
    settings.add_arguments(parser)
    return parser.parse_args(argv)


def git_commit():
    """`git rev-parse HEAD` of the project, or "unknown" outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=runs.PROJECT_DIR, capture_output=True, text=True,
                                timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def code_fingerprint():
    """The fingerprint of the training code: this script and every project module it imports
    (runs.imported_code), so a module that training starts to use counts without being listed."""
    return runs.script_fingerprint(__file__)


def _present_artifacts(run_dir):
    names = [n for n in runs.TRAINING_OUTPUTS if os.path.exists(os.path.join(run_dir, n))]
    return names + [os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(run_dir), runs.CHECKPOINT_GLOB))]


def clear_run_dir(run_dir):
    """Deletes the artifacts train.py writes (and nothing else) from a run folder."""
    for name in _present_artifacts(run_dir):
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def resolve_run(args):
    """(run folder, settings, experiment name, stored config or None when not resuming).

    An existing run is an error unless resumed or --overwrite (then main() deletes it once the
    settings and the data have been checked).
    """
    experiment, experiment_values = None, {}
    if args.experiment:
        path = runs.find_experiment(args.experiments_dir, args.experiment)
        experiment = os.path.splitext(os.path.basename(path))[0]
        experiment_values = settings.load_experiment(path)
    if not args.run_dir and not experiment:
        raise settings.SettingsError("no run folder: give --experiment or --run_dir")
    run_dir = args.run_dir or os.path.join("runs", experiment)
    config_path = os.path.join(run_dir, runs.CONFIG_FILE)
    if os.path.isfile(config_path) and args.resume:
        config = runs.read_json(config_path)
        stored = settings.settings_from_config(config, config_path)
        values = settings.resolve({}, args, base=stored)
        changed = [n for n in settings.given_flags(args) if values[n] != stored[n]]
        fixed = [n for n in changed if n not in settings.RESUMABLE_CHANGES]
        if fixed:
            raise settings.SettingsError(f"{run_dir}: a resumed run keeps its settings; --{', --'.join(fixed)} "
                                         "differ from its config.json (train into a new --run_dir instead)")
        return run_dir, values, config.get("experiment"), config
    present = _present_artifacts(run_dir) if os.path.isdir(run_dir) else []
    if present and not args.overwrite:
        hint = "--resume to continue it or " if runs.CONFIG_FILE in present else ""
        raise settings.SettingsError(f"{run_dir} already holds a run ({', '.join(sorted(present))}): "
                                     f"pass {hint}--overwrite to replace it, or choose another --run_dir")
    return run_dir, settings.resolve(experiment_values, args), experiment, None


def check_inputs_outside(run_dir, values):
    """Raises UserError when the run folder is, or holds, one of the run's inputs (--overwrite
    clears the run folder: a checkpoint given to init_from must not go with it)."""
    cli.refuse_inputs([run_dir], [*values["data_dir"], *values["teacher_runs"], values["init_from"],
                                  values["teacher_probs"], *values["pseudo_labels"]])


def finished_run_differs(argv):
    """Why the finished run in the run folder of `main(argv)` is not what `main(argv)` would train now
    (other settings, other training code, unfinished, absent), or None when it can be reused."""
    args = parse_args(argv)
    args.overwrite = True  # only the settings are wanted; nothing is deleted here
    run_dir, values, _, _ = resolve_run(args)
    config_path = os.path.join(run_dir, runs.CONFIG_FILE)
    if not os.path.isfile(os.path.join(run_dir, runs.METRICS_FILE)) or not os.path.isfile(config_path):
        return f"{run_dir} holds no finished run"
    config = runs.read_json(config_path)
    code = code_fingerprint()
    if config.get("code") != code:
        return f"{run_dir} was trained by other training code ({config.get('code')} != {code})"
    stored = settings.settings_from_config(config, config_path)
    changed = sorted(name for name in values if stored.get(name) != values[name])
    return f"{run_dir} was trained with other settings: {', '.join(changed)}" if changed else None


def make_strategy(name):
    """The tf.distribute strategy; mirrored uses every GPU, or every logical CPU without GPUs."""
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def load_data(values, run_dir):
    """{"processor", "labels", "train", "validation", "testing", "teacher"}: the AudioProcessor, its
    datasets, and the teacher probabilities computed from `teacher_runs` (None otherwise)."""
    teacher, expected, from_runs = None, None, None
    if values["teacher_probs"]:
        teacher, expected = teachers.from_probability_file(values)
    processor = input_data.AudioProcessor.from_settings(values, teacher_probs=teacher)
    if expected is not None and processor.labels != expected:
        raise cli.UserError(f"the data's labels {processor.labels} changed while reading (unreadable clips?)")
    if values["teacher_runs"] and values["teacher_online"]:
        processor.set_teacher_function(teachers.online_teacher(values["teacher_runs"], processor.labels,
                                                               processor.clip_samples))
    elif values["teacher_runs"]:
        keys, probabilities = teachers.teacher_from_runs(processor, values,
                                                         os.path.join(run_dir, runs.TEACHER_PROBS_FILE))
        processor.set_teacher(dict(zip(keys, probabilities)))
        from_runs = prob_files.ProbTable(keys, processor.labels, probabilities, runs.TEACHER_PROBS_FILE)
    data = {"processor": processor, "labels": processor.labels, "teacher": from_runs}
    for split, key in (("training", "train"), ("validation", "validation"), ("testing", "testing")):
        data[key] = processor.dataset(split, values["batch_size"])
    if not len(data["validation"]):
        raise cli.UserError(f"{values['data_dir']}: the validation split is empty; the best checkpoint is chosen on it")
    return data


def make_optimizer(values):
    """The Keras optimizer of the settings (weight decay spares biases and normalisation scales)."""
    common = {"learning_rate": values["learning_rate"], "weight_decay": values["weight_decay"] or None,
              "use_ema": bool(values["ema_momentum"]), "ema_momentum": values["ema_momentum"] or 0.99}
    name = values["optimizer"]
    if name == "sgd":
        optimizer = keras.optimizers.SGD(momentum=values["momentum"], nesterov=values["nesterov"], **common)
    elif name == "rmsprop":
        optimizer = keras.optimizers.RMSprop(momentum=values["momentum"], **common)
    else:
        optimizer = {"adam": keras.optimizers.Adam, "nadam": keras.optimizers.Nadam}[name](**common)
    if values["weight_decay"]:
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def set_batch_norm_momentum(net, momentum):
    """Sets the moving-statistics momentum of every BatchNormalization, nested ones included."""
    # Keras has no public walk over nested layers (SubSpectralNorm holds its own BatchNormalization).
    norms = [layer for layer in net._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = momentum
    log.info("batch norm momentum %g in %d layers", momentum, len(norms))


def build_model(values, num_classes, strategy):
    """(model, built optimizer), created in the strategy's scope."""
    with strategy.scope():
        net = model_zoo.build_model(values["model"], num_classes, settings.clip_samples(values),
                                    **values["model_params"])
        if values["batch_norm_momentum"]:
            set_batch_norm_momentum(net, values["batch_norm_momentum"])
        optimizer = make_optimizer(values)
        optimizer.build(net.trainable_variables)
    log.info("model %s: %s parameters, %d classes", values["model"], f"{net.count_params():,}", num_classes)
    return net, optimizer


def load_initial_weights(net, source, labels):
    """Copies the weights of a run folder's best checkpoint, or of a .keras file, into `net`."""
    if os.path.isdir(source):
        start, source_labels, _ = runs.load_run(source)
        if source_labels != labels:
            raise settings.SettingsError(f"init_from {source}: its labels {source_labels} differ from this run's "
                                         f"{labels}")
    elif os.path.isfile(source):
        start = runs.load_keras_model(source)
    else:
        raise settings.SettingsError(f"init_from {source}: no such run folder or .keras file")
    shapes, expected = [tuple(w.shape) for w in start.weights], [tuple(w.shape) for w in net.weights]
    if shapes != expected:
        raise settings.SettingsError(f"init_from {source}: its weights do not fit this model ({len(shapes)} arrays "
                                     f"vs {len(expected)}, or other shapes); model and model_params must be the same")
    net.set_weights(start.get_weights())
    log.info("initial weights from %s", source)


def write_config(run_dir, values, experiment, labels, stored=None):
    """config.json and labels.txt (a resumed run keeps its original commit and creation time)."""
    created = datetime.datetime.now().isoformat(timespec="seconds")
    config = dict(stored or {"name": os.path.basename(os.path.abspath(run_dir)), "experiment": experiment,
                             "git_commit": git_commit(), "code": code_fingerprint(), "created": created,
                             "versions": {"tensorflow": tf.__version__, "keras": keras.__version__}})
    config.update(seed=values["seed"], labels=labels, **settings.config_sections(values))
    os.makedirs(run_dir, exist_ok=True)
    label_sets.write_labels(os.path.join(run_dir, runs.LABELS_FILE), labels)
    runs.write_json(os.path.join(run_dir, runs.CONFIG_FILE), config)


def evaluate(out_dir, data, values, progress):
    """Scores the testing split with best.keras; writes confusion_matrix.png and metrics.json."""
    best = runs.load_keras_model(os.path.join(out_dir, runs.BEST_CHECKPOINT))
    labels, testing = data["labels"], data["testing"]
    true = testing.labels_array()
    predicted = np.zeros(0, np.int64)
    if len(true):
        predict_fn = tf.function(lambda x: best(x, training=False), reduce_retracing=True)
        predicted = np.argmax(train_loop.predict(predict_fn, testing, values["loader_threads"]), axis=-1)
        matrix = train_metrics.confusion_matrix(predicted, true, len(labels))
        title = (f"{os.path.basename(os.path.abspath(out_dir))}: testing split, "
                 f"accuracy {train_metrics.accuracy(predicted, true):.4f}")
        train_metrics.plot_confusion_matrix(matrix, labels, os.path.join(out_dir, runs.CONFUSION_MATRIX_FILE), title)
    else:
        log.warning("the testing split is empty: no test accuracy and no confusion matrix")
    best_record, last = progress["best"], progress["rows"][-1]
    metrics = {
        "best_checkpoint": best_record["checkpoint"], "best_epoch": best_record["epoch"],
        "best_val_accuracy": best_record["val_accuracy"],
        "best_val_kaggle_accuracy": best_record["val_kaggle_accuracy"],
        "test_accuracy": train_metrics.accuracy(predicted, true),
        "test_kaggle_accuracy": train_metrics.kaggle_accuracy(predicted, true, labels) if len(true) else None,
        "test_per_class_accuracy": train_metrics.per_class_accuracy(predicted, true, labels),
        "test_samples": int(len(true)), "epochs_trained": len(progress["rows"]), "stop_reason": progress["stop_reason"],
        "final_loss": last["loss"], "final_accuracy": last["accuracy"],
        "train_seconds": round(progress["train_seconds"], 3), "train_samples": progress["train_samples"],
        "train_samples_per_second": round(progress["train_samples"] / max(progress["train_seconds"], 1e-9), 2),
    }
    runs.write_json(os.path.join(out_dir, runs.METRICS_FILE), metrics)
    return metrics


def setup_tensorflow(values):
    """The tf.distribute strategy, after a fresh Keras session, deterministic ops and the seeds."""
    keras.backend.clear_session()  # fresh layer names and seeds when main() runs twice in a process
    strategy = make_strategy(values["strategy"])  # MultiWorkerMirroredStrategy must precede other TF work
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(values["seed"])
    return strategy


def prepare_output(run_dir, values, experiment, stored, labels, strategy):
    """The folder this process writes: the run folder (chief), else a temporary one (other workers)."""
    if stored is not None and stored.get("labels") != labels:
        raise cli.UserError(f"{run_dir}: the data now gives the labels {labels}, the run has {stored.get('labels')}")
    if not strategy.extended.should_checkpoint:
        return tempfile.mkdtemp(prefix="kws-worker-")
    if stored is None and _present_artifacts(run_dir):
        log.info("--overwrite: deleting the run in %s", run_dir)
        clear_run_dir(run_dir)
    write_config(run_dir, values, experiment, labels, stored)
    return run_dir


def main(argv=None):
    """Trains (or resumes) one run; returns its metrics dict."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_dir, values, experiment, stored = resolve_run(args)
    settings.check(values)
    check_inputs_outside(run_dir, values)
    if values["model"] not in model_zoo.MODELS:
        raise settings.SettingsError(f"unknown model {values['model']!r}; known: {', '.join(model_zoo.MODELS)}")
    strategy = setup_tensorflow(values)
    data = load_data(values, run_dir if stored is not None else "")
    net, optimizer = build_model(values, len(data["labels"]), strategy)
    resuming = stored is not None and os.path.isfile(os.path.join(run_dir, runs.STATE_FILE))
    if values["init_from"] and not resuming:  # before the run folder is written: a misfit leaves no run behind
        load_initial_weights(net, values["init_from"], data["labels"])
    out_dir = prepare_output(run_dir, values, experiment, stored, data["labels"], strategy)
    if data["teacher"] is not None and not os.path.isfile(os.path.join(out_dir, runs.TEACHER_PROBS_FILE)):
        prob_files.write_probs_csv(os.path.join(out_dir, runs.TEACHER_PROBS_FILE), data["teacher"])
    progress = train_loop.new_progress(values)
    if resuming:
        progress = train_loop.load_state(run_dir, net, optimizer)
        log.info("resuming %s at epoch %d, batch %d", run_dir, progress["epoch"] + 1, progress["batch"])
    trainer = train_loop.Trainer(values, strategy, net, optimizer, data, out_dir, progress)
    metrics_path = os.path.join(out_dir, runs.METRICS_FILE)
    if trainer.finished() and os.path.isfile(metrics_path):
        log.info("%s has finished already", run_dir)
        return runs.read_json(metrics_path)
    metrics = evaluate(out_dir, data, values, trainer.run())
    if out_dir != run_dir:
        shutil.rmtree(out_dir, ignore_errors=True)
    print(f"{run_dir}: best epoch {metrics['best_epoch']} ({metrics['best_checkpoint']}), "
          f"val accuracy {metrics['best_val_accuracy']:.4f}, test accuracy {metrics['test_accuracy']}, "
          f"{metrics['train_samples_per_second']:.0f} samples/s")
    return metrics

