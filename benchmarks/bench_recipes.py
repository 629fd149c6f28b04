"""Recipe benchmark: each training recipe gets the same wall-clock budget, then is scored on real
speakers it never heard.

    python benchmarks/bench_recipes.py [--budget_minutes 4] [--recipes conv ds_cnn bc_resnet pi raw_large]
        [--synth_dir data/synth/train] [--real_dir ../shared/data/speech_commands_real]
        [--test_dir ../shared/data/speech_commands_real_test] [--steps_per_epoch 20] [--batch_size N]
        [--runs_dir DIR] [--baseline conv]

For each recipe (an experiment file: conv 010, ds_cnn 020, bc_resnet 030, pi 040, raw_large 100)
it runs `train.py --experiment N` in a fresh process on the synthetic corpus plus the training
split of the real data (`--data_dir SYNTH REAL`), without pseudo labels or teacher, with
`--max_minutes BUDGET --epochs 1000 --steps_per_epoch S --batch_norm_momentum 0.9`. Training
stops at the epoch boundary where one more epoch would pass the budget (training and validation
time; decoding the data is not counted); short epochs keep that boundary close to the budget.
With so many nominal epochs a recipe's cosine or step schedule hardly decays, so the figure is
"accuracy after BUDGET minutes of this recipe", not the recipe's final accuracy. Keras' batch-norm
momentum 0.99 leaves the moving statistics unusable after the few hundred steps of a short
budget, hence 0.9 for every recipe.

Each run's best checkpoint then predicts every clip of `TEST_DIR/audio` (`audio.load_clip`,
`model.predict`); an all-words model's probabilities are summed into the 12 Kaggle classes; the
accuracy is taken against `TEST_DIR/solution.csv` (fname,label,word). Prints one row per recipe
(epochs, samples/s, validation accuracy, test accuracy) and the ratios of test accuracy and of
training speed against the baseline recipe measured in the same run.

Writes the run folders into `--runs_dir` (default: a temporary folder, deleted at the end).
Smoke run: `--budget_minutes 0.05 --steps_per_epoch 1 --batch_size 8 --synth_dir <tiny corpus>`.
"""

import argparse
import csv
import logging
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from tqdm import tqdm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws import runs

log = logging.getLogger("bench_recipes")

RECIPES = {"conv": "010", "ds_cnn": "020", "bc_resnet": "030", "pi": "040", "raw_large": "100"}


def read_test_set(test_dir):
    """(fnames, Kaggle labels, waveforms float32 [n, 16000]) of a Kaggle-style test folder."""
    solution = os.path.join(test_dir, "solution.csv")
    with open(solution, newline="", encoding="utf-8") as f:
        rows = sorted((row["fname"], row["label"]) for row in csv.DictReader(f))
    if not rows:
        raise ValueError(f"{solution}: no rows")
    bad = sorted({label for _, label in rows} - set(label_sets.KAGGLE_LABELS))
    if bad:
        raise ValueError(f"{solution}: labels {bad} are not Kaggle labels")
    folder = corpus.test_wav_folder(test_dir)
    waveforms = np.stack([audio.load_clip(os.path.join(folder, fname))
                          for fname, _ in tqdm(rows, desc="reading test clips", unit="clip")])
    return [f for f, _ in rows], np.array([label for _, label in rows]), waveforms


def kaggle_predictions(probabilities, model_labels):
    """Kaggle label per row: model probabilities summed into the 12 Kaggle classes, then argmax."""
    columns = [label_sets.KAGGLE_LABELS.index(label_sets.kaggle_label(label)) for label in model_labels]
    kaggle = np.zeros((len(probabilities), len(label_sets.KAGGLE_LABELS)), np.float64)
    np.add.at(kaggle.T, columns, probabilities.T)
    return np.array(label_sets.KAGGLE_LABELS)[np.argmax(kaggle, axis=1)]


def train_recipe(name, run_dir, args):
    """Trains one recipe in a fresh process under the time budget; returns its metrics.json."""
    command = [sys.executable, os.path.join(ROOT, "train.py"), "--experiment", RECIPES[name],
               "--run_dir", run_dir, "--overwrite", "--data_dir", args.synth_dir, args.real_dir,
               "--pseudo_labels", "", "--teacher_probs", "", "--max_minutes", str(args.budget_minutes),
               "--epochs", "1000", "--steps_per_epoch", str(args.steps_per_epoch), "--seed", str(args.seed),
               "--batch_norm_momentum", str(args.batch_norm_momentum)]
    if args.batch_size:
        command += ["--batch_size", str(args.batch_size)]
    log.info("training %s: %s", name, " ".join(command))
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"training {name} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return runs.read_json(os.path.join(run_dir, runs.METRICS_FILE))


def score(run_dir, truth, waveforms):
    """Kaggle accuracy of a run's best checkpoint on the test waveforms."""
    import keras

    keras.backend.clear_session()
    net, model_labels, _ = runs.load_run(run_dir)
    probabilities = net.predict(waveforms, batch_size=128, verbose=0)
    return float(np.mean(kaggle_predictions(probabilities, model_labels) == truth))


def format_table(rows, baseline):
    """The result table, with ratios against the baseline recipe's row."""
    base = rows[baseline]
    lines = [f"{'recipe':<11}{'epochs':>7}{'samples/s':>11}{'val acc':>9}{'test acc':>10}"
             f"{'test acc ratio':>16}{'speed ratio':>13}"]
    for name, row in rows.items():
        accuracy_ratio = row["test"] / base["test"] if base["test"] else float("nan")
        lines.append(f"{name:<11}{row['epochs']:>7}{row['speed']:>11.1f}{row['val']:>9.4f}{row['test']:>10.4f}"
                     f"{accuracy_ratio:>16.3f}{row['speed'] / base['speed']:>13.3f}")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget_minutes", type=float, default=4.0,
                        help="training time per recipe, minutes (default: 4)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES),
                        help=f"recipes to train (default: {' '.join(RECIPES)})")
    parser.add_argument("--baseline", default="conv", help="recipe the ratios refer to (default: conv)")
    parser.add_argument("--synth_dir", default=os.path.join(ROOT, "data", "synth", "train"),
                        help="synthetic training corpus (default: data/synth/train)")
    parser.add_argument("--real_dir", default=os.path.join(SHARED_DATA, "speech_commands_real"),
                        help="real training data (default: ../shared/data/speech_commands_real)")
    parser.add_argument("--test_dir", default=os.path.join(SHARED_DATA, "speech_commands_real_test"),
                        help="Kaggle-style test folder with solution.csv "
                             "(default: ../shared/data/speech_commands_real_test)")
    parser.add_argument("--steps_per_epoch", type=int, default=20,
                        help="batches per epoch, so the budget ends close to an epoch boundary (default: 20)")
    parser.add_argument("--batch_size", type=int, default=0, help="batch size (default: each recipe's own)")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every recipe (default: 0)")
    parser.add_argument("--batch_norm_momentum", type=float, default=0.9,
                        help="batch norm momentum of every recipe: a few hundred steps are too few for Keras' "
                             "0.99 (default: 0.9; 0 = each recipe's own)")
    parser.add_argument("--runs_dir", default=None, help="where the run folders go (default: a temporary folder, "
                                                         "deleted at the end)")
    args = parser.parse_args(argv)
    if args.baseline not in args.recipes:
        parser.error(f"the baseline recipe {args.baseline!r} must be one of --recipes")
    for path in (args.synth_dir, args.real_dir, args.test_dir):
        if not os.path.isdir(path):
            parser.error(f"{path}: no such folder (the synthetic corpus: make_synthetic_dataset.py; "
                         "the real data: ../shared/data on the team's machines)")
    return args


def main(argv=None):
    """Trains and scores every recipe; prints the table and returns {recipe: figures}."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _, truth, waveforms = read_test_set(args.test_dir)
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="bench-recipes-")
    rows = {}
    try:
        for name in args.recipes:
            run_dir = os.path.join(runs_dir, name)
            metrics = train_recipe(name, run_dir, args)
            rows[name] = {"epochs": metrics["epochs_trained"], "speed": metrics["train_samples_per_second"],
                          "val": metrics["best_val_accuracy"], "test": score(run_dir, truth, waveforms)}
            log.info("%s: %s", name, rows[name])
    finally:
        if not args.runs_dir:
            shutil.rmtree(runs_dir, ignore_errors=True)
    print(f"{args.budget_minutes:g} min per recipe; test: {len(truth)} clips of {args.test_dir}")
    print(format_table(rows, args.baseline))
    return rows


if __name__ == "__main__":
    cli.run(main)
