"""The negative word lists: no keyword or homophone, training and stream lists disjoint, words the corpus takes."""

import pytest

from kws.data import make_synthetic_dataset
from kws.data import vocabulary


def test_lists_hold_no_keyword_and_do_not_overlap():
    vocabulary.check_lists()
    for words in (vocabulary.TRAINING_NEGATIVE_WORDS, vocabulary.STREAM_NEGATIVE_WORDS):
        assert make_synthetic_dataset.parse_words(",".join(words)) == tuple(words)  # the corpus generator takes them


@pytest.mark.parametrize("name, word", [("TRAINING_NEGATIVE_WORDS", "stop"), ("STREAM_NEGATIVE_WORDS", "know"),
                                        ("STREAM_NEGATIVE_WORDS", "often")])
def test_a_keyword_a_homophone_or_a_shared_word_is_refused(monkeypatch, name, word):
    monkeypatch.setattr(vocabulary, name, (*getattr(vocabulary, name), word))
    with pytest.raises(ValueError, match=word):
        vocabulary.check_lists()
