"""ensemble.py: weighted mean by hand, alignment by fname, mixed formats, errors, vote with the tie rule."""

import numpy as np
import pytest

from kws.submit import ensemble
from kws.data import labels
from kws.submit import probs

KAGGLE = list(labels.KAGGLE_PROB_ORDER)
FNAMES = ["a.wav", "b.wav", "c.wav"]


def kaggle_rows(*winners, confidence=0.9):
    """One row per winner: `confidence` on that Kaggle class, the rest spread evenly."""
    rows = np.full((len(winners), 12), (1 - confidence) / 11, np.float32)
    for i, winner in enumerate(winners):
        rows[i, KAGGLE.index(winner)] = confidence
    return rows


def write_csv(path, fnames, values, classes=KAGGLE):
    probs.write_probs_csv(path, probs.ProbTable(fnames, classes, values))
    return str(path)


def test_weighted_mean_by_hand_with_shuffled_rows_and_mixed_formats(tmp_path):
    a = kaggle_rows("yes", "no", "silence")
    b = kaggle_rows("no", "no", "unknown")
    path_a = write_csv(tmp_path / "A.csv", FNAMES, a)
    order = [2, 0, 1]  # B's rows in another order: alignment must not depend on it
    table_b = probs.ProbTable([FNAMES[i] for i in order], KAGGLE, b[order])
    probs.write_probs_memmap(str(tmp_path / "B"), table_b)
    submission, mean, _ = ensemble.ensemble([path_a, str(tmp_path / "B.json")], [3, 1], str(tmp_path / "E"))
    b_quantised = np.rint(b * 255) / 255
    expected = 0.75 * a + 0.25 * b_quantised
    np.testing.assert_allclose(mean.values, expected / expected.sum(axis=1, keepdims=True), atol=1e-6)
    # row a: yes 0.75*0.9 + 0.25*0.0091 vs no 0.75*0.0091 + 0.25*0.9 -> yes
    assert submission == ["yes", "no", "silence"]
    assert (tmp_path / "E.csv").read_text() == "fname,label\na.wav,yes\nb.wav,no\nc.wav,silence\n"
    np.testing.assert_allclose(probs.read_probs(tmp_path / "E_probs.csv").values, mean.values, atol=1e-7)


def test_different_clips_are_an_error_naming_the_difference(tmp_path):
    path_a = write_csv(tmp_path / "A.csv", FNAMES, kaggle_rows("yes", "no", "up"))
    path_b = write_csv(tmp_path / "B.csv", ["a.wav", "b.wav", "d.wav", "e.wav"],
                       kaggle_rows("yes", "no", "up", "up"))
    with pytest.raises(ValueError, match=r"1 fname\(s\) of .*A.csv are not in .*B.csv, e.g. \['c.wav'\]; "
                                         r"2 fname\(s\) of .*B.csv are not in .*A.csv, e.g. \['d.wav', 'e.wav'\]"):
        ensemble.main(["--probs", path_a, path_b, "--out", str(tmp_path / "E")])


def test_different_classes_suggest_convert_probs_or_convert_with_to_kaggle(tmp_path):
    path_a = write_csv(tmp_path / "A.csv", FNAMES, kaggle_rows("yes", "no", "unknown"))
    words = ["_silence_", "_unknown_", *labels.COMMAND_WORDS, "cat"]
    word_values = np.zeros((3, 13), np.float32)
    word_values[0, words.index("yes")] = word_values[1, words.index("no")] = word_values[2, words.index("cat")] = 1
    path_b = write_csv(tmp_path / "B.csv", FNAMES, word_values, words)
    with pytest.raises(ValueError, match="convert_probs.py or pass --to_kaggle"):
        ensemble.main(["--probs", path_a, path_b, "--out", str(tmp_path / "E")])
    assert ensemble.main(["--probs", path_a, path_b, "--out", str(tmp_path / "E"), "--to_kaggle"]) == \
        ["yes", "no", "unknown"]


def test_vote_majority_and_tie_rule(tmp_path):
    paths = [write_csv(tmp_path / "M0.csv", FNAMES, kaggle_rows("yes", "up", "go")),
             write_csv(tmp_path / "M1.csv", FNAMES, kaggle_rows("yes", "down", "off")),
             write_csv(tmp_path / "M2.csv", FNAMES, kaggle_rows("no", "left", "go"))]
    out = str(tmp_path / "V")
    vote = ["--method", "vote", "--overwrite"]  # each call replaces the last one's outputs
    # a: clear majority yes; b: three-way tie; c: go has 2 of 3
    assert ensemble.main(["--probs", *paths, "--out", out, *vote]) == ["yes", "up", "go"]
    assert ensemble.main(["--probs", *paths, "--out", out, *vote, "--tie_model", "M1"]) == \
        ["yes", "down", "go"]
    assert ensemble.main(["--probs", *paths, "--out", out, *vote, "--tie_model", "2"]) == \
        ["yes", "left", "go"]
    # weights: M2 weighs 3 of 5 -> it wins every row alone
    assert ensemble.main(["--probs", *paths, "--out", out, *vote, "--weights", "1", "1", "3"]) == \
        ["no", "left", "go"]
    # the winning entry's "at least 3 votes" rule: a's and c's 2 votes are not enough -> M1's labels
    assert ensemble.main(["--probs", *paths, "--out", out, *vote, "--min_votes", "3",
                          "--tie_model", "M1.csv"]) == ["yes", "down", "off"]
    assert open(out + ".csv").read().startswith("fname,label\na.wav,")


def test_bad_arguments(tmp_path):
    path = write_csv(tmp_path / "A.csv", FNAMES, kaggle_rows("yes", "no", "up"))
    with pytest.raises(ValueError, match="2 weights for 1"):
        ensemble.main(["--probs", path, "--weights", "1", "2", "--out", str(tmp_path / "E")])
    with pytest.raises(ValueError, match="matches 0"):
        ensemble.main(["--probs", path, "--out", str(tmp_path / "E"), "--method", "vote", "--tie_model", "Z"])
