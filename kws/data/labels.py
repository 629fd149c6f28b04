"""Label sets of Speech Commands and the Kaggle challenge, and the files that carry them.

- `WORDS_V1`: the 30 words of Speech Commands v0.01; `WORDS_V2`: v0.02's 35 (five more).
- `COMMAND_WORDS`: the 10 words the Kaggle challenge scores by name.
- `KAGGLE_LABELS`: the 12 strings a submission may contain.
- `KAGGLE_PROB_ORDER`: the column order of 12-class probability files used for ensembling
  (the winning team's order).
- A model's output order is `model_labels(wanted_words)`: `_silence_`, `_unknown_`, then the
  wanted words, as in the TensorFlow tutorial; a run folder's `labels.txt` records it.
- `phrase_label`: the label of a keyword typed as text ("lights on" -> `lights_on`).
- The one mapping between the two: `kaggle_label` (model label or word -> Kaggle label) and
  `model_label` (a word, Kaggle or model label -> the model label it trains as); `KAGGLE_TO_MODEL`
  holds the two names that differ.
"""

import numpy as np

from kws import cli

SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"
BACKGROUND_NOISE_DIR = "_background_noise_"

COMMAND_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
AUXILIARY_WORDS_V1 = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                      "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
WORDS_V1 = COMMAND_WORDS + AUXILIARY_WORDS_V1
WORDS_V2 = WORDS_V1 + ("backward", "follow", "forward", "learn", "visual")

KAGGLE_LABELS = COMMAND_WORDS + ("silence", "unknown")
KAGGLE_PROB_ORDER = ("silence", "unknown") + COMMAND_WORDS
KAGGLE_TO_MODEL = {"silence": SILENCE_LABEL, "unknown": UNKNOWN_LABEL}


def phrase_label(text):
    """The label (and folder name) of a keyword or phrase: lower case, its words joined by '_'
    ('Lights  On' -> 'lights_on'); the text spoken is the phrase itself."""
    return "_".join(text.lower().split())


def kaggle_label(label):
    """The Kaggle submission label of a word or model label ('_silence_' -> 'silence', ...)."""
    if label in COMMAND_WORDS:
        return label
    return "silence" if model_label(label) == SILENCE_LABEL else "unknown"


def model_label(name, wanted_words=None):
    """The model label of a word, a Kaggle label or a model label ('silence' -> '_silence_'); given the
    `wanted_words`, a word that is not one of them trains as `_unknown_` (clip folders, pseudo labels)."""
    label = KAGGLE_TO_MODEL.get(name, name)
    if wanted_words is not None and label not in (SILENCE_LABEL, UNKNOWN_LABEL) and label not in wanted_words:
        return UNKNOWN_LABEL
    return label


def kaggle_membership(model_labels):
    """0/1 float32 [len(model_labels), 12]: row i marks the Kaggle class (in KAGGLE_PROB_ORDER) of
    model label i, so `probs @ membership` sums a model's probabilities into the 12 classes."""
    membership = np.zeros((len(model_labels), len(KAGGLE_PROB_ORDER)), np.float32)
    for i, name in enumerate(model_labels):
        membership[i, KAGGLE_PROB_ORDER.index(kaggle_label(name))] = 1.0
    return membership


def model_labels(wanted_words):
    """A model's output labels: silence, unknown, then the wanted words in the given order."""
    words = [w for w in wanted_words if w not in (SILENCE_LABEL, UNKNOWN_LABEL)]
    if len(set(words)) != len(words):
        raise cli.UserError(f"wanted words contain duplicates: {words}")
    return [SILENCE_LABEL, UNKNOWN_LABEL, *words]


def read_labels(path):
    """Labels of a `labels.txt` file (one per line, model output order)."""
    with open(path, encoding="utf-8") as f:
        labels = [line.strip() for line in f if line.strip()]
    if not labels:
        raise cli.UserError(f"{path}: no labels in the file")
    if len(set(labels)) != len(labels):
        raise cli.UserError(f"{path}: duplicated labels")
    return labels


def write_labels(path, labels):
    """Writes `labels.txt`: one label per line, in model output order."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{label}\n" for label in labels))
