"""labels.py: the label sets and the Kaggle mapping."""

import pytest

from kws.data import labels


def test_label_set_sizes():
    assert len(labels.WORDS_V1) == 30 and len(set(labels.WORDS_V1)) == 30
    assert len(labels.WORDS_V2) == 35 and set(labels.WORDS_V1) < set(labels.WORDS_V2)
    assert labels.KAGGLE_LABELS == ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                                    "silence", "unknown")
    assert sorted(labels.KAGGLE_PROB_ORDER) == sorted(labels.KAGGLE_LABELS)
    assert labels.KAGGLE_PROB_ORDER[:2] == ("silence", "unknown")


@pytest.mark.parametrize("word, expected", [("yes", "yes"), ("go", "go"), ("_silence_", "silence"),
                                            ("silence", "silence"), ("_unknown_", "unknown"),
                                            ("marvin", "unknown"), ("visual", "unknown")])
def test_kaggle_label(word, expected):
    assert labels.kaggle_label(word) == expected


def test_model_labels_and_file_round_trip(tmp_path):
    order = labels.model_labels(labels.COMMAND_WORDS)
    assert order[:2] == ["_silence_", "_unknown_"] and len(order) == 12
    labels.write_labels(tmp_path / "labels.txt", order)
    assert labels.read_labels(tmp_path / "labels.txt") == order
    with pytest.raises(ValueError, match="duplicates"):
        labels.model_labels(["yes", "yes"])
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="empty.txt: no labels"):
        labels.read_labels(tmp_path / "empty.txt")
