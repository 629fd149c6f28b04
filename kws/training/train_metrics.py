"""Accuracy figures and the confusion-matrix picture of `train.py` (and of the recipe benchmark).

- `accuracy(predicted, true)`: share of equal class indices.
- `kaggle_accuracy(predicted, true, labels)`: accuracy after mapping predicted and true model
  labels to the 12 Kaggle labels (`labels.kaggle_label`); for an all-words model this is the figure
  the challenge scored (every non-command word counts as `unknown`).
- `per_class_accuracy`, `confusion_matrix`, `plot_confusion_matrix` (PNG, matplotlib's Agg canvas,
  so no display or global pyplot state is needed).

This module is a library: nothing runs at import.
"""

import numpy as np

from kws import cli
from kws.data.labels import kaggle_label


def accuracy(predicted, true):
    """Share of predictions equal to the truth (None when there is nothing to score)."""
    predicted, true = np.asarray(predicted), np.asarray(true)
    return float(np.mean(predicted == true)) if len(true) else None


def kaggle_accuracy(predicted, true, labels):
    """Accuracy over the 12 Kaggle labels of model class indices `predicted` and `true`."""
    kaggle = np.array([kaggle_label(label) for label in labels])
    return accuracy(kaggle[np.asarray(predicted, dtype=int)], kaggle[np.asarray(true, dtype=int)])


def confusion_matrix(predicted, true, num_classes):
    """int64 [true class, predicted class] counts."""
    flat = np.asarray(true, dtype=np.int64) * num_classes + np.asarray(predicted, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(predicted, true, labels):
    """{label: share of that label's samples predicted correctly (None without samples)}."""
    matrix = confusion_matrix(predicted, true, len(labels))
    totals = matrix.sum(axis=1)
    return {label: (float(matrix[i, i] / totals[i]) if totals[i] else None) for i, label in enumerate(labels)}


def plot_confusion_matrix(matrix, labels, path, title):
    """Writes the row-normalised confusion matrix as a PNG (counts printed for up to 16 classes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    size_inches = max(5.0, 0.35 * len(labels) + 2.0)
    figure = Figure(figsize=(size_inches, size_inches))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    axes.set_xticks(range(len(labels)), labels, rotation=90)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if len(labels) <= 16:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                colour = "white" if shares[row, column] > 0.5 else "black"
                axes.text(column, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    figure.tight_layout()
    cli.write_atomic(path, lambda tmp: figure.savefig(tmp, dpi=100), suffix=".png")
