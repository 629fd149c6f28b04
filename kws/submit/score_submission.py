"""Scores a submission against a solution with the challenge's metric.

    python score_submission.py --solution data/synth/test/solution.csv --submission submissions/N.csv [--json]

Reads two `fname,label` CSVs (the solution may carry more columns, e.g. `word`, and Kaggle's
`Usage`). The metric is the challenge's: accuracy over all rows (every test clip counts once).
Also reported: the accuracy of each true label (its recall), the confusion matrix (rows = true
label, columns = submitted label, both in `labels.KAGGLE_LABELS` order) and, when the solution
has a `Usage` column, the accuracy per usage (Public/Private).

Errors (naming the file and up to five examples): duplicated fnames in either file, fnames of
the solution missing from the submission, extra fnames in the submission, labels outside the 12
Kaggle labels in either file.

Prints a table, or with `--json` one JSON object {"accuracy", "rows", "per_label", "confusion",
"labels", "per_usage"}. Writes nothing.
"""

import argparse
import json

import numpy as np

from kws import cli
from kws.data import labels as label_sets
from kws.submit import probs as prob_files

USAGE = "Usage"


def _check_labels(frame, path):
    bad = frame[~frame[prob_files.LABEL].isin(label_sets.KAGGLE_LABELS)]
    if len(bad):
        examples = bad[[prob_files.FNAME, prob_files.LABEL]].head(5).values.tolist()
        raise cli.UserError(f"{path}: {len(bad)} row(s) with labels outside the 12 Kaggle labels "
                            f"{list(label_sets.KAGGLE_LABELS)}: {sorted(bad[prob_files.LABEL].unique())[:5]}, "
                            f"e.g. {examples}")


def check_fnames(solution, submission, solution_path, submission_path):
    """Raises ValueError naming the fnames of the solution missing from the submission and its extra ones."""
    difference = prob_files.describe_difference(solution[prob_files.FNAME], submission[prob_files.FNAME],
                                                solution_path, submission_path)
    if difference:
        raise cli.UserError(f"the submission and the solution cover different clips: {difference}")


def score(solution, submission):
    """Scores two checked DataFrames; returns the report dictionary (see the module docstring)."""
    merged = solution.merge(submission, on=prob_files.FNAME, suffixes=("_true", "_pred"), validate="1:1")
    truth, predicted = merged["label_true"].to_numpy(), merged["label_pred"].to_numpy()
    names = list(label_sets.KAGGLE_LABELS)
    index = {name: i for i, name in enumerate(names)}
    confusion = np.zeros((len(names), len(names)), np.int64)
    np.add.at(confusion, ([index[t] for t in truth], [index[p] for p in predicted]), 1)
    correct = truth == predicted
    per_label = {name: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
                 for i, name in enumerate(names)}
    per_usage = {}
    if USAGE in merged.columns:
        for usage, rows in merged.groupby(USAGE):
            per_usage[usage] = float(correct[rows.index].mean())
    return {"accuracy": float(correct.mean()) if len(correct) else 0.0, "rows": int(len(correct)),
            "labels": names, "per_label": per_label, "confusion": confusion.tolist(), "per_usage": per_usage}


def score_files(solution_path, submission_path):
    """Reads, checks and scores; the report dictionary."""
    solution = prob_files.read_label_csv(solution_path)
    submission = prob_files.read_label_csv(submission_path)[[prob_files.FNAME, prob_files.LABEL]]
    _check_labels(solution, solution_path)
    _check_labels(submission, submission_path)
    check_fnames(solution, submission, solution_path, submission_path)
    return score(solution, submission)


def format_report(report):
    """The report as text: accuracy, per-label accuracy and the confusion matrix."""
    names = report["labels"]
    width = max(len(n) for n in names) + 1
    lines = [f"accuracy {report['accuracy']:.4f} over {report['rows']} clips"]
    lines += [f"  {usage} accuracy {value:.4f}" for usage, value in sorted(report["per_usage"].items())]
    lines.append("per-label accuracy (true label):")
    confusion = np.array(report["confusion"])
    for i, name in enumerate(names):
        value = report["per_label"][name]
        shown = "   n/a" if value is None else f"{value:.4f}"
        lines.append(f"  {name:<{width}}{shown}  ({confusion[i].sum()} clips)")
    lines.append("confusion matrix (rows: true, columns: submitted):")
    lines.append(" " * (width + 2) + "".join(f"{n[:7]:>8}" for n in names))
    for i, name in enumerate(names):
        lines.append(f"  {name:<{width}}" + "".join(f"{v:>8d}" for v in confusion[i]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--solution", required=True, help="true labels: CSV fname,label[,word,Usage,...]")
    parser.add_argument("--submission", required=True, help="submission to score: CSV fname,label")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    report = score_files(args.solution, args.submission)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return report

