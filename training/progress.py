"""A tqdm progress bar for keras fit(): loss terms and steps/s, counting from a resumed step."""

from __future__ import annotations

import keras
from tqdm.auto import tqdm


class ProgressBar(keras.callbacks.Callback):
    def __init__(self, total_steps: int, steps_per_epoch: int, desc: str, terms=("total",)):
        super().__init__()
        self.total, self.per_epoch, self.desc, self.terms = total_steps, steps_per_epoch, desc, terms
        self.bar, self.epoch = None, 0

    def on_train_begin(self, logs=None):
        start = getattr(self.model, "_initial_epoch", 0) or 0
        self.bar = tqdm(
            total=self.total, initial=start * self.per_epoch, desc=self.desc, unit="step", dynamic_ncols=True
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if logs and batch % 5 == 0:
            self.bar.set_postfix({k: f"{float(logs[k]):.4g}" for k in self.terms if k in logs}, refresh=False)

    def on_train_end(self, logs=None):
        self.bar.close()
