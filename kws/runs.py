"""The run folder: what `train.py` leaves behind and every later script reads.

A run folder `runs/<name>/` holds `config.json` (every resolved setting, seed, git commit),
`labels.txt` (model output order), checkpoints `ep-<epoch>-va-<val_acc>.keras`, `best.keras`
(a copy of the best checkpoint by validation accuracy), `metrics.json`, `log.csv`, TensorBoard
logs, a confusion-matrix picture, the resume state and, when distilled from teacher runs, their
probabilities. Later scripts take `--run_dir` and need nothing else. The names below are the only
place these file names are written down (docs/ARCHITECTURE.md, "Run folder").
"""

import ast
import hashlib
import json
import os
import zipfile
import zlib

from kws import cli
from kws.data import labels as label_sets

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository: scripts, experiments/
# The training code is not listed here but found: train.py and every project module it imports
# (`imported_code`), so a module added to training cannot be forgotten. Its fingerprint is stored in
# config.json, so a finished run made by other code is not mistaken for a fresh one. Only the code
# counts, not its comments or docstrings: editing those keeps finished runs reusable.
# Folders whose modules never count as project code, even when imported (tests, benchmarks, virtualenvs).
NOT_PROJECT_CODE = ("tests", "benchmarks", "site-packages", "dist-packages")

# The modules whose code decides what freeze_graph.py exports (their fingerprint is in its report).
EXPORT_CODE = ("kws/export/freeze_graph.py", "kws/export/quantization.py", "kws/export/stream_export.py")

CONFIG_FILE = "config.json"
LABELS_FILE = "labels.txt"
BEST_CHECKPOINT = "best.keras"
CHECKPOINT_GLOB = "ep-*.keras"  # the epoch checkpoints, named by `checkpoint_name`
METRICS_FILE = "metrics.json"
LOG_FILE = "log.csv"
TENSORBOARD_DIR = "tensorboard"
STATE_FILE = os.path.join("state", "resume.npz")
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
TEACHER_PROBS_FILE = "teacher_probs.csv"
# Everything train.py writes into a run folder besides the epoch checkpoints (--overwrite deletes these only).
TRAINING_OUTPUTS = (CONFIG_FILE, LABELS_FILE, BEST_CHECKPOINT, METRICS_FILE, LOG_FILE, CONFUSION_MATRIX_FILE,
                    TENSORBOARD_DIR, os.path.dirname(STATE_FILE), TEACHER_PROBS_FILE)


def checkpoint_name(epoch, val_accuracy):
    """The file name of the checkpoint of `epoch` (1-based) with its validation accuracy."""
    return f"ep-{epoch:03d}-va-{val_accuracy:.4f}.keras"


def find_experiment(directory, name):
    """The experiment file for a number ('195' or '0' for 000_demo), a file stem or a .toml path;
    a ValueError names what is missing or ambiguous."""
    if name.endswith(".toml"):
        if not os.path.isfile(name):
            raise cli.UserError(f"{name}: no such experiment file")
        return name
    if not os.path.isdir(directory):
        raise cli.UserError(f"experiment {name!r}: no experiments folder {directory}")
    stems = sorted(os.path.splitext(f)[0] for f in os.listdir(directory) if f.endswith(".toml"))
    if name.isdigit():
        matches = [s for s in stems if s.split("_")[0].isdigit() and int(s.split("_")[0]) == int(name)]
    else:
        matches = [s for s in stems if s == name]
    if len(matches) != 1:
        found = ", ".join(f"{m}.toml" for m in matches) if matches else "none"
        raise cli.UserError(f"experiment {name!r}: expected exactly one matching file "
                            f"<number>_<name>.toml in {directory}, found {found}")
    return os.path.join(directory, f"{matches[0]}.toml")


def _code_without_docs(source):
    """The syntax tree of Python source as text, without comments, docstrings or line numbers."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def import_root(script):
    """The folder whose modules `script`'s absolute imports find first (sys.path[0] when run): its own
    folder, or above the packages it lies in (a folder with __init__.py)."""
    folder = os.path.dirname(os.path.abspath(script))
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder = os.path.dirname(folder)
    return folder


def _module_file(root, dotted):
    """The .py file of module `dotted` under `root` (a package's __init__.py), or None."""
    base = os.path.join(root, *dotted.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _imported_names(path, root):
    """Dotted names (relative to `root`) that the file at `path` may import: every import statement,
    also inside functions, with each parent package and each `from X import name` as a possible module."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    folder = os.path.relpath(os.path.dirname(path), root)
    package = [] if folder == os.curdir else folder.split(os.sep)  # what `from . import x` is relative to
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parent = package[:max(0, len(package) - node.level + 1)] if node.level else []
            base = ".".join(parent + ([node.module] if node.module else []))
            names += [base] + [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
    expanded = set()
    for name in filter(None, names):
        parts = name.split(".")
        expanded.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
    return sorted(expanded)


def imported_code(script):
    """Sorted '/'-separated paths, relative to `import_root(script)`, of `script` and every project
    module it imports directly or through other project modules (found by reading import statements,
    including those inside functions: a module imported only on some path still decides results).
    Modules outside the root (standard library, site-packages) and in NOT_PROJECT_CODE do not count."""
    root = import_root(script)
    seen, pending = set(), [os.path.abspath(script)]
    while pending:
        path = pending.pop()
        relative = os.path.relpath(path, root)
        if relative in seen or set(relative.split(os.sep)) & set(NOT_PROJECT_CODE):
            continue
        seen.add(relative)
        pending += [found for name in _imported_names(path, root) if (found := _module_file(root, name))]
    return sorted(relative.replace(os.sep, "/") for relative in seen)


def code_fingerprint(modules, root=None):
    """16 hex digits of SHA-256 over the code of `modules` (paths relative to `root`, PROJECT_DIR unless
    given, in this order), comments and docstrings left out."""
    digest = hashlib.sha256()
    for name in modules:
        with open(os.path.join(root or PROJECT_DIR, name), encoding="utf-8") as f:
            digest.update(name.encode() + b"\0" + _code_without_docs(f.read()).encode())
    return digest.hexdigest()[:16]


def script_fingerprint(script):
    """The code fingerprint of `script` and the project modules it imports (`imported_code`)."""
    return code_fingerprint(imported_code(script), import_root(script))


def read_json(path):
    """A JSON file's content, with an error naming the file when it is malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise cli.UserError(f"{path}: malformed JSON ({e})") from e


def write_json(path, content):
    """Writes JSON (indented, keys sorted) atomically."""
    cli.write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


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


def run_files(run_dir, checkpoint=None):
    """The files of a run that `load_run` reads (an output may not replace any of them)."""
    return [os.path.join(run_dir, CONFIG_FILE), os.path.join(run_dir, LABELS_FILE),
            checkpoint_path(run_dir, checkpoint)]


def check_keras_file(path):
    """Raises UserError naming `path` unless it is a whole .keras archive (Keras itself says "file
    not found" for a truncated one)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names, broken = archive.namelist(), archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        names, broken = [], str(e) or type(e).__name__
    if broken or "config.json" not in names:
        problem = f"a damaged archive ({broken})" if broken else "not a saved Keras model (no config.json)"
        raise cli.UserError(f"{path}: the .keras file is damaged or not a model: {problem}; "
                            "train again (--overwrite) or choose another checkpoint")


def load_keras_model(path):
    """A saved .keras model (custom layers registered), checked to be a whole file first."""
    import keras

    from kws.models import model as _registers_custom_layers  # noqa: F401  (custom layers must be registered)

    check_keras_file(path)
    return keras.models.load_model(path, compile=False)


def load_run(run_dir, checkpoint=None):
    """(Keras model, labels, config) of a run; the best checkpoint unless one is named."""
    check_run_dir(run_dir)
    labels = label_sets.read_labels(os.path.join(run_dir, LABELS_FILE))
    config = read_json(os.path.join(run_dir, CONFIG_FILE))
    keras_model = load_keras_model(checkpoint_path(run_dir, checkpoint))
    classes = keras_model.output_shape[-1]
    if classes != len(labels):
        raise cli.UserError(f"{run_dir}: the model has {classes} outputs but labels.txt lists {len(labels)}")
    return keras_model, labels, config
