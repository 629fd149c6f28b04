r"""Ensembles several probability files into one submission: weighted mean or majority vote.

    python ensemble.py --probs submissions/A_kaggle.csv submissions/B_kaggle.json submissions/C_probs.csv \
        --weights 2 1 1 --out submissions/ens_1 [--method mean|vote] [--tie_model A_kaggle] [--to_kaggle]

Reads probability files in any mix of formats (`probs.read_probs`: CSV, or uint8 memmap with its
JSON sidecar). Rows are aligned by fname, never by position; files covering different clips are
an error naming the difference (counts and examples). All files must have the same classes
(column order may differ: columns are matched by name); otherwise pass `--to_kaggle` to convert
every file to the 12 Kaggle classes by the sum rule first (as `convert_probs.py --unknown sum`),
or convert them beforehand with convert_probs.py.

Methods:
- `mean` (default): the weighted average of the probabilities (weights are normalised; each row is
  renormalised to sum 1, which only matters for memmap inputs and their rounding).
- `vote`: every file votes, with its weight, for its own Kaggle label (its probabilities summed
  into the 12 classes, then argmax). A label wins if it has a strict majority of the total weight
  (or at least `--min_votes`); otherwise -- no clear majority or a tie -- the label of
  `--tie_model` is taken (the winning entry's rule: "resolve ties by the best submission"; by
  default the first file). `--tie_model` is a 0-based index or a file's path/name/stem.

Input rows must be probability distributions (`probs.read_probs`: in [0, 1], summing to 1); a
torn or edited file is an error naming it and the rows.

Writes (both or neither, each atomically, rows sorted by fname):
  PREFIX.csv        submission `fname,label` (Kaggle labels: the mean probabilities summed into
                    the 12 classes, then argmax; or the vote's result)
  PREFIX_probs.csv  the weighted mean probabilities in the files' classes (for both methods, so
                    a vote also leaves probabilities for pseudo-labelling)
Existing outputs are replaced only with `--overwrite`; an output that is one of the input files
is an error. Errors (exit status 2, `error: ...`) name the file and what to do.
"""

import argparse
import logging
import os

import numpy as np

from kws import cli
from kws.submit import probs as prob_files

log = logging.getLogger(__name__)


def load_tables(paths, to_kaggle=False):
    """The probability tables, aligned by fname, with one column order; errors name the files."""
    tables = [prob_files.read_probs(path) for path in paths]
    if to_kaggle:
        tables = [prob_files.to_kaggle(table, "sum") for table in tables]
    reference = tables[0]
    for table in tables[1:]:
        if set(table.classes) != set(reference.classes):
            only_a = sorted(set(reference.classes) - set(table.classes))
            only_b = sorted(set(table.classes) - set(reference.classes))
            raise cli.UserError(
                f"{table.source} and {reference.source} have different classes ({only_b} vs {only_a} "
                "not shared): convert them to the 12 Kaggle classes with convert_probs.py or pass --to_kaggle")
    tables = [prob_files.ProbTable(t.fnames, reference.classes,
                                   t.values[:, [t.classes.index(c) for c in reference.classes]], t.source)
              for t in tables]
    return prob_files.align(tables)


def weighted_mean(tables, weights):
    """The weighted average of aligned tables (weights normalised to sum 1), each row renormalised to
    sum 1 (memmap inputs carry their rounding)."""
    weights = np.asarray(weights, np.float64)
    weights = weights / weights.sum()
    values = sum(w * t.values.astype(np.float64) for w, t in zip(weights, tables))
    return prob_files.ProbTable(tables[0].fnames, tables[0].classes, prob_files.normalise_rows(values), "ensemble")


def majority_vote(predictions, weights, tie_index, min_votes=None):
    """Per row the label with a clear weighted majority, else the `tie_index` file's label.

    predictions: [files][rows] labels. A label is clear when its weight is above half of the total
    (or >= `min_votes` when given) and no other label has as much.
    """
    weights = np.asarray(weights, np.float64)
    needed = weights.sum() / 2 if min_votes is None else float(min_votes)
    result, ties = [], 0
    for row_labels in zip(*predictions):
        totals = {}
        for label, weight in zip(row_labels, weights):
            totals[label] = totals.get(label, 0.0) + weight
        best = max(totals.values())
        winners = [label for label, total in totals.items() if total == best]
        clear = len(winners) == 1 and (best > needed if min_votes is None else best >= needed)
        result.append(winners[0] if clear else row_labels[tie_index])
        ties += not clear
    return result, ties


def resolve_tie_model(tie_model, paths):
    """Index of the tie-break file from an index or a path, file name or stem."""
    if tie_model is None:
        return 0
    if tie_model.isdigit():
        index = int(tie_model)
        if index >= len(paths):
            raise cli.UserError(f"--tie_model {index} is out of range: {len(paths)} files given")
        return index
    names = [(p, os.path.basename(p), os.path.basename(p).split(".")[0]) for p in paths]
    matches = [i for i, forms in enumerate(names) if tie_model in forms]
    if len(matches) != 1:
        raise cli.UserError(f"--tie_model {tie_model!r} matches {len(matches)} of the files {list(paths)}; "
                            "give its index (0-based) or its exact path")
    return matches[0]


def output_paths(out_prefix):
    """(submission CSV, probability CSV) of an output PREFIX."""
    return out_prefix + ".csv", out_prefix + "_probs.csv"


def ensemble(paths, weights, out_prefix, method="mean", tie_model=None, min_votes=None, to_kaggle=False,
             overwrite=False):
    """Writes PREFIX.csv and PREFIX_probs.csv; returns (submission labels, mean table, ties)."""
    if len(weights) != len(paths):
        raise cli.UserError(f"{len(weights)} weights for {len(paths)} probability files")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise cli.UserError(f"weights must be >= 0 with a positive sum, got {weights}")
    tie_index = resolve_tie_model(tie_model, paths)
    submission_path, probs_path = output_paths(out_prefix)
    cli.check_outputs([submission_path, probs_path],
                      [source for path in paths for source in prob_files.source_files(path)], overwrite)
    tables = load_tables(paths, to_kaggle)
    mean = weighted_mean(tables, weights)
    ties = 0
    if method == "vote":
        predictions = [prob_files.kaggle_predictions(t) for t in tables]
        submission, ties = majority_vote(predictions, weights, tie_index, min_votes)
    else:
        submission = prob_files.kaggle_predictions(mean)
    cli.write_all({submission_path: lambda tmp: prob_files.write_label_csv(tmp, mean.fnames, submission),
                   probs_path: lambda tmp: prob_files.write_probs_csv(tmp, mean)})
    return submission, mean, ties


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probs", nargs="+", required=True,
                        help="probability files (CSV, memmap sidecar .json, .uint8.memmap or PREFIX)")
    parser.add_argument("--weights", nargs="+", type=float, default=None,
                        help="one weight per file (default: all 1)")
    parser.add_argument("--out", required=True, help="output PREFIX: writes PREFIX.csv and PREFIX_probs.csv")
    parser.add_argument("--method", choices=("mean", "vote"), default="mean",
                        help="weighted mean of probabilities (default) or weighted majority vote")
    parser.add_argument("--tie_model", default=None,
                        help="vote: the file whose label is taken without a clear majority "
                             "(0-based index, path, file name or stem; default: the first file)")
    parser.add_argument("--min_votes", type=float, default=None,
                        help="vote: weight a label needs to win (default: more than half of the total)")
    parser.add_argument("--to_kaggle", action="store_true",
                        help="convert every file to the 12 Kaggle classes (sum rule) before combining")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    weights = args.weights if args.weights is not None else [1.0] * len(args.probs)
    out_prefix = cli.out_prefix(args.out)
    submission, mean, ties = ensemble(args.probs, weights, out_prefix, args.method, args.tie_model,
                                      args.min_votes, args.to_kaggle, args.overwrite)
    detail = f", {ties} rows without a clear majority took the tie model's label" if args.method == "vote" else ""
    print(f"ensembled {len(args.probs)} files ({args.method}, weights {weights}) over {len(submission)} clips"
          f"{detail}: {out_prefix}.csv, {out_prefix}_probs.csv")
    return submission

