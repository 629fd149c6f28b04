"""The run folder: what `train.py` leaves behind and every later script reads.

A run folder `runs/<name>/` holds `config.json` (every resolved setting, seed, git commit),
`labels.txt` (model output order), checkpoints `ep-<epoch>-va-<val_acc>.keras`, `best.keras`
(a copy of the best checkpoint by validation accuracy), `metrics.json`, `log.csv`, TensorBoard
logs and a confusion-matrix picture. Later scripts take `--run_dir` and need nothing else.
"""

import json
import os

import labels as label_sets

CONFIG_FILE = "config.json"
LABELS_FILE = "labels.txt"
BEST_CHECKPOINT = "best.keras"
METRICS_FILE = "metrics.json"


def read_json(path):
    """A JSON file's content, with an error naming the file when it is malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON ({e})") from e


def write_json(path, content):
    """Writes JSON atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def check_run_dir(run_dir):
    """Raises a clear error unless `run_dir` holds a finished or checkpointed run."""
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    for name in (CONFIG_FILE, LABELS_FILE):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise FileNotFoundError(f"{run_dir}: not a run folder (no {name}); train.py writes it")


def checkpoint_path(run_dir, checkpoint=None):
    """The checkpoint to load: `checkpoint` (a path, or a file name inside the run), else best.keras."""
    if checkpoint:
        candidate = checkpoint if os.path.exists(checkpoint) else os.path.join(run_dir, checkpoint)
        if not os.path.isfile(candidate):
            raise FileNotFoundError(f"{checkpoint}: no such checkpoint (looked in {run_dir} too)")
        return candidate
    best = os.path.join(run_dir, BEST_CHECKPOINT)
    if not os.path.isfile(best):
        raise FileNotFoundError(f"{run_dir}: no {BEST_CHECKPOINT} yet (has the first epoch finished?)")
    return best


def load_run(run_dir, checkpoint=None):
    """(Keras model, labels, config) of a run; the best checkpoint unless one is named."""
    import keras

    import model as _registers_custom_layers  # noqa: F401  (custom layers must be registered)

    check_run_dir(run_dir)
    labels = label_sets.read_labels(os.path.join(run_dir, LABELS_FILE))
    config = read_json(os.path.join(run_dir, CONFIG_FILE))
    keras_model = keras.models.load_model(checkpoint_path(run_dir, checkpoint), compile=False)
    classes = keras_model.output_shape[-1]
    if classes != len(labels):
        raise ValueError(f"{run_dir}: the model has {classes} outputs but labels.txt lists {len(labels)}")
    return keras_model, labels, config
