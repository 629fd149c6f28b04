"""probs.py and convert_probs.py: every format round-trips, the Kaggle sum and max rules by hand."""

import json

import numpy as np
import pytest

from kws.submit import convert_probs
from kws.data import labels
from kws.submit import probs

WORD_CLASSES = ["_silence_", "_unknown_", "yes", "no", "cat", "dog"]


def table(fnames, classes, values):
    return probs.ProbTable(fnames, classes, np.array(values, np.float32))


@pytest.fixture
def word_table():
    """Two clips over silence, unknown, two commands and two non-command words (unsorted rows)."""
    return table(["b.wav", "a.wav"], WORD_CLASSES,
                 [[0.05, 0.10, 0.40, 0.05, 0.25, 0.15],
                  [0.70, 0.05, 0.05, 0.10, 0.04, 0.06]])


def test_csv_round_trip_sorts_rows_and_keeps_float32(tmp_path, word_table):
    path = tmp_path / "p.csv"
    probs.write_probs_csv(path, word_table)
    assert path.read_text().splitlines()[0] == "fname," + ",".join(WORD_CLASSES)
    back = probs.read_probs(path)
    assert back.fnames == ["a.wav", "b.wav"] and back.classes == WORD_CLASSES
    np.testing.assert_array_equal(back.values, word_table.values[[1, 0]])  # 9 digits: exact float32


def test_memmap_round_trip_and_sidecar(tmp_path, word_table):
    data_path, sidecar_path = probs.write_probs_memmap(str(tmp_path / "m"), word_table)
    assert data_path.endswith("m.uint8.memmap") and sidecar_path.endswith("m.json")
    sidecar = json.loads(open(sidecar_path).read())
    assert sidecar["shape"] == [2, 6] and sidecar["dtype"] == "uint8" and sidecar["scale"] == 255
    assert sidecar["fnames"] == ["a.wav", "b.wav"] and sidecar["classes"] == WORD_CLASSES
    raw = np.fromfile(data_path, np.uint8).reshape(2, 6)
    np.testing.assert_array_equal(raw[0], [178, 13, 13, 26, 10, 15])  # 0.70*255 = 178.5 -> 178 (round half even)
    for path in (str(tmp_path / "m"), data_path, sidecar_path):  # any of the three names reads it back
        back = probs.read_probs(path)
        assert back.fnames == ["a.wav", "b.wav"]
        np.testing.assert_allclose(back.values, word_table.values[[1, 0]], atol=0.5 / 255 + 1e-7)


def test_label_csv_round_trip(tmp_path):
    path = tmp_path / "sub.csv"
    probs.write_label_csv(path, ["b.wav", "a.wav"], ["yes", "unknown"])
    assert path.read_text() == "fname,label\na.wav,unknown\nb.wav,yes\n"
    frame = probs.read_label_csv(path)
    assert frame.values.tolist() == [["a.wav", "unknown"], ["b.wav", "yes"]]


def test_bad_files_name_the_file_and_problem(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("fname,yes,no\na.wav,0.5,0.5\na.wav,0.1,0.9\n")
    with pytest.raises(ValueError, match=r"dup.csv: 1 duplicated fname.*a.wav"):
        probs.read_probs(path)
    path.write_text("fname,label\na.wav,yes\n")
    with pytest.raises(ValueError, match=r"\['label'\] are not numbers"):
        probs.read_probs(path)
    path.write_text("fname,yes,no\na.wav,1.5,0.5\n")
    with pytest.raises(ValueError, match="outside"):
        probs.read_probs(path)
    with pytest.raises(FileNotFoundError, match="nothing"):
        probs.read_probs(tmp_path / "nothing")
    probs.write_probs_memmap(str(tmp_path / "cut"), table(["a.wav"], ["yes", "no"], [[0.5, 0.5]]))
    (tmp_path / "cut.uint8.memmap").write_bytes(b"\x01")
    with pytest.raises(ValueError, match="expected 2 bytes"):
        probs.read_probs(tmp_path / "cut")


def test_kaggle_sum_rule_by_hand(word_table):
    kaggle = probs.to_kaggle(word_table.sorted(), "sum")
    assert kaggle.classes == list(labels.KAGGLE_PROB_ORDER)
    expected_b = np.zeros(12, np.float32)
    expected_b[:4] = [0.05, 0.10 + 0.25 + 0.15, 0.40, 0.05]  # silence, unknown (+cat +dog), yes, no
    np.testing.assert_allclose(kaggle.values[1], expected_b, atol=1e-7)
    # b: the single most probable label is "yes" (0.40), but the unknown words together have 0.50
    assert word_table.argmax_labels() == ["yes", "_silence_"]
    assert probs.kaggle_predictions(word_table) == ["unknown", "silence"]


def test_kaggle_max_rule_by_hand(word_table):
    kaggle = probs.to_kaggle(word_table, "max")
    before = np.array([0.05, 0.25, 0.40, 0.05], np.float64)  # unknown = max(0.10, 0.25, 0.15)
    # classes without any label (up down left right on off stop go) get probability 0
    expected = np.concatenate([np.exp(before) / np.exp(before).sum(), np.zeros(8)])
    np.testing.assert_allclose(kaggle.values[0], expected, atol=1e-6)


def test_convert_probs_cli_writes_csv_memmap_and_sidecar(tmp_path, word_table, capsys):
    source = tmp_path / "N_probs.csv"
    probs.write_probs_csv(source, word_table)
    convert_probs.main(["--probs", str(source), "--out", str(tmp_path / "N_kaggle")])
    assert "converted 2 rows" in capsys.readouterr().out
    from_csv = probs.read_probs(tmp_path / "N_kaggle.csv")
    from_memmap = probs.read_probs(tmp_path / "N_kaggle")
    assert from_csv.classes == from_memmap.classes == list(labels.KAGGLE_PROB_ORDER)
    np.testing.assert_allclose(from_csv.values, probs.to_kaggle(word_table.sorted()).values, atol=1e-7)
    np.testing.assert_allclose(from_memmap.values, from_csv.values, atol=0.5 / 255 + 1e-7)
    convert_probs.main(["--probs", str(source), "--out", str(tmp_path / "M"), "--unknown", "max"])
    np.testing.assert_allclose(probs.read_probs(tmp_path / "M.csv").values,
                               probs.to_kaggle(word_table.sorted(), "max").values, atol=1e-7)


def test_align_reorders_and_names_differences():
    a = table(["a.wav", "b.wav", "c.wav"], ["yes"], [[0.1], [0.2], [0.3]])
    b = table(["c.wav", "a.wav", "b.wav"], ["yes"], [[0.3], [0.1], [0.2]])
    np.testing.assert_array_equal(probs.align([a, b])[1].values, a.values)
    c = table(["a.wav", "b.wav", "x.wav"], ["yes"], [[0.1], [0.2], [0.3]])
    c.source = "C.csv"
    with pytest.raises(ValueError, match=r"1 fname\(s\) of <memory> are not in C.csv, e.g. \['c.wav'\].*"
                                         r"1 fname\(s\) of C.csv are not in <memory>, e.g. \['x.wav'\]"):
        probs.align([a, c])
