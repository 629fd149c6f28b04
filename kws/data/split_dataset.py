"""The batches of one split of an `input_data.AudioProcessor` as a `keras.utils.PyDataset`.

`AudioProcessor.dataset(split, batch_size)` makes one; it can go straight to `model.fit`, and
train_loop.py reads its batches itself (`__getitem__`, `len`, `set_epoch`, `labels_array`). A
module of its own because it is the only part of the data pipeline that needs Keras: input_data.py
imports it when the first dataset is made, so `python input_data.py DIR` and other light uses
never load TensorFlow. This module is a library: nothing runs at import.
"""

import math

import keras
import numpy as np

from kws.training import settings


class SplitDataset(keras.utils.PyDataset):
    """Batches (x float32 [b, clip samples], y) of one split, made by `AudioProcessor.dataset`.

    Training: `set_epoch(e, pseudo_probability=None)` selects the epoch (None: the processor's
    default pseudo probability); moving to another epoch resets `start_batch`. `start_batch = k`
    skips the first k batches of the set epoch (resume), and `len()` shrinks by k; Keras reads
    `len()` once per `fit` call, so fit a resumed partial epoch in a call of its own.
    Validation/testing ignore the epoch; `labels_array()` gives their labels in order.
    """

    def __init__(self, processor, split, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.processor, self.split, self.batch_size = processor, split, batch_size
        self.epoch, self.start_batch = 0, 0
        self.pseudo_probability = processor.pseudo_probability
        self._packed = split == "training" and processor.has_teacher

    def set_epoch(self, epoch, pseudo_probability=None):
        """Selects the epoch (and its pseudo-label mixing probability) of the coming batches."""
        if int(epoch) != self.epoch:
            self.start_batch = 0
        self.epoch = int(epoch)
        p = self.processor.pseudo_probability if pseudo_probability is None else pseudo_probability
        self.pseudo_probability = settings.check_probability(p, "pseudo_probability")

    def __len__(self):
        batches = math.ceil(self.processor.split_size(self.split) / self.batch_size)
        return max(batches - self.start_batch, 0) if self.split == "training" else batches

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a {len(self)}-batch {self.split} dataset")
        ap, b = self.processor, self.batch_size
        if self.split == "training":
            plan = ap.training_plan(self.epoch, self.start_batch + index, b, self.pseudo_probability)
        else:
            plan = ap.eval_plan(self.split)[index * b:(index + 1) * b]
        x = ap.render(plan)
        return x, ap.targets(plan, self._packed, x)

    def labels_array(self):
        """int32 [n] true labels of validation/testing, in dataset order."""
        if self.split == "training":
            raise ValueError("training labels change every epoch; labels_array() is for validation/testing")
        return self.processor.eval_plan(self.split).label.astype(np.int32)
