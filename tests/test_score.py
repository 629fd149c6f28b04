"""score_submission.py: exact accuracy, per-label accuracy, confusion matrix, and the input errors."""

import json

import pytest

from kws.data import labels
from kws.submit import score_submission

SOLUTION = ("fname,label,word,Usage\n"
            "a.wav,yes,yes,Public\nb.wav,yes,yes,Private\nc.wav,unknown,cat,Public\n"
            "d.wav,silence,,Private\ne.wav,no,no,Private\n")


@pytest.fixture
def solution(tmp_path):
    path = tmp_path / "solution.csv"
    path.write_text(SOLUTION)
    return str(path)


def write(tmp_path, text, name="sub.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_exact_values(tmp_path, solution, capsys):
    # rows in another order than the solution: matched by fname
    submission = write(tmp_path, "fname,label\ne.wav,no\nd.wav,silence\nc.wav,no\nb.wav,yes\na.wav,no\n")
    report = score_submission.main(["--solution", solution, "--submission", submission, "--json"])
    assert report["accuracy"] == pytest.approx(3 / 5) and report["rows"] == 5
    assert report["per_label"]["yes"] == 0.5 and report["per_label"]["unknown"] == 0.0
    assert report["per_label"]["silence"] == 1.0 and report["per_label"]["up"] is None
    assert report["per_usage"] == {"Public": 0.0, "Private": 1.0}
    index = {name: i for i, name in enumerate(labels.KAGGLE_LABELS)}
    confusion = report["confusion"]
    assert confusion[index["yes"]][index["no"]] == 1 and confusion[index["yes"]][index["yes"]] == 1
    assert confusion[index["unknown"]][index["no"]] == 1 and sum(map(sum, confusion)) == 5
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(0.6)
    score_submission.main(["--solution", solution, "--submission", submission])
    text = capsys.readouterr().out
    assert "accuracy 0.6000 over 5 clips" in text and "confusion matrix" in text


@pytest.mark.parametrize("text, message", [
    ("fname,label\na.wav,yes\nb.wav,yes\nc.wav,no\nd.wav,silence\n",
     r"1 fname\(s\) of .*solution.csv are not in .*sub.csv, e.g. \['e.wav'\]"),
    ("fname,label\na.wav,yes\nb.wav,yes\nc.wav,no\nd.wav,silence\ne.wav,no\nz.wav,no\n",
     r"1 fname\(s\) of .*sub.csv are not in .*solution.csv, e.g. \['z.wav'\]"),
    ("fname,label\na.wav,yes\na.wav,yes\nb.wav,yes\nc.wav,no\nd.wav,silence\ne.wav,no\n",
     r"sub.csv: 1 duplicated fname\(s\), e.g. \['a.wav'\]"),
    ("fname,label\na.wav,yes\nb.wav,_silence_\nc.wav,cat\nd.wav,silence\ne.wav,no\n",
     r"sub.csv: 2 row\(s\) with labels outside the 12 Kaggle labels.*'_silence_', 'cat'"),
    ("fname,prediction\na.wav,yes\n", r"missing column\(s\) \['label'\]"),
])
def test_errors_name_the_problem(tmp_path, solution, text, message):
    with pytest.raises(ValueError, match=message):
        score_submission.main(["--solution", solution, "--submission", write(tmp_path, text)])
