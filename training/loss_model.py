"""A keras Model whose fit() minimises PerceptualLoss terms, on any Keras backend.

Training the transformation network and Gatys optimisation of one image both go through
keras fit(), which gives a compiled step, checkpoints and callbacks on TensorFlow and JAX.
"""

from __future__ import annotations

import keras

from .losses import PerceptualLoss

TERMS = ("total", "content", "style", "tv")


class LossModel(keras.Model):
    """Subclasses implement ``call(x) -> stylized`` and ``content_features(x)``."""

    def __init__(self, loss: PerceptualLoss, terms=TERMS, **kwargs):
        super().__init__(**kwargs)
        self.perceptual = loss
        self.trackers = {t: keras.metrics.Mean(name=t) for t in terms}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def content_features(self, x):
        return self.perceptual.content_features(x)

    def loss_terms(self, x, y_pred) -> dict:
        """Named scalar terms, including "total" (the value minimised)."""
        return self.perceptual.terms(y_pred, self.content_features(x))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        terms = self.loss_terms(x, y_pred)
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return terms["total"]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return {name: t.result() for name, t in self.trackers.items()}
