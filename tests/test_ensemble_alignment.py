"""Rows are matched by fname, whatever order the files list them in: hand-written CSVs in shuffled
order with distinct values per clip, through ensemble.py, and probs.align on its own."""

import numpy as np

from kws.submit import ensemble
from kws.data import labels
from kws.submit import probs

KAGGLE = list(labels.KAGGLE_PROB_ORDER)
FNAMES = [f"clip_{i}.wav" for i in range(6)]


def distinct_rows(offset):
    """One row per clip, every row different (the clip's index decides its winner and its values)."""
    values = np.full((len(FNAMES), 12), 0.01, np.float64)
    for i in range(len(FNAMES)):
        values[i, (i + offset) % 12] = 0.5 + 0.05 * i
    return values / values.sum(axis=1, keepdims=True)


def write_by_hand(path, order, values):
    lines = ["fname," + ",".join(KAGGLE)]
    lines += [FNAMES[i] + "," + ",".join(f"{v:.9g}" for v in values[i]) for i in order]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_ensemble_matches_rows_by_fname_in_shuffled_files(tmp_path):
    a, b = distinct_rows(0), distinct_rows(5)
    path_a = write_by_hand(tmp_path / "a.csv", [3, 0, 5, 1, 4, 2], a)
    path_b = write_by_hand(tmp_path / "b.csv", [1, 4, 2, 5, 0, 3], b)
    _, mean, _ = ensemble.ensemble([path_a, path_b], [1, 3], str(tmp_path / "e"))
    expected = {FNAMES[i]: 0.25 * a[i] + 0.75 * b[i] for i in range(len(FNAMES))}
    for fname, row in zip(mean.fnames, mean.values):
        np.testing.assert_allclose(row, expected[fname], atol=1e-6)
    assert sorted(mean.fnames) == FNAMES


def test_align_reorders_every_table_to_the_first_ones_fnames():
    a, b = distinct_rows(0), distinct_rows(7)
    order = [4, 2, 0, 5, 3, 1]
    first = probs.ProbTable(FNAMES, KAGGLE, a)
    shuffled = probs.ProbTable([FNAMES[i] for i in order], KAGGLE, b[order])
    aligned = probs.align([first, shuffled])
    assert aligned[1].fnames == FNAMES
    np.testing.assert_allclose(aligned[1].values, b, atol=1e-7)
