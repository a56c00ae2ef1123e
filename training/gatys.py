"""Gatys et al. (2016): optimise one image against the perceptual losses (the slow reference)."""

from __future__ import annotations

import keras
import numpy as np

from .loss_model import LossModel
from .losses import LossWeights, PerceptualLoss
from .progress import ProgressBar


class PaintedImage(LossModel):
    def __init__(self, content: np.ndarray, loss: PerceptualLoss, **kwargs):
        super().__init__(loss, **kwargs)
        self.content = keras.ops.convert_to_tensor(content[None].astype("float32"))
        self._content_feats = loss.content_features(self.content)
        self.image = self.add_weight(
            shape=self.content.shape, name="image", initializer=keras.initializers.Constant(content[None])
        )

    def content_features(self, x):
        return self._content_feats

    def call(self, x):
        return self.image


def paint(
    content: np.ndarray,
    style: np.ndarray,
    vgg,
    steps=300,
    lr=4.0,
    weights: LossWeights = LossWeights(),
    progress=True,
    history=None,
):
    """Return (image uint8 HxWx3, final loss terms); starts from the content image."""
    loss = PerceptualLoss(style, vgg, weights)
    model = PaintedImage(content.astype("float32"), loss)
    model.compile(optimizer=keras.optimizers.Adam(lr))
    callbacks = [ProgressBar(steps, steps, "paint", ("total", "content", "style"))] if progress else []
    hist = model.fit(
        np.zeros((steps, 1), "float32"), batch_size=1, epochs=1, verbose=0, callbacks=callbacks, shuffle=False
    )
    image = np.clip(keras.ops.convert_to_numpy(model.image)[0], 0, 255).round().astype("uint8")
    final = evaluate_terms(loss, image[None], content[None])
    if history is not None:
        history.update(hist.history)
    return image, final


def evaluate_terms(loss: PerceptualLoss, outputs, contents) -> dict:
    """Loss terms (floats) of uint8/float ``outputs`` against ``contents``."""
    out = np.asarray(outputs, "float32")
    terms = loss.terms(out, loss.content_features(np.asarray(contents, "float32")))
    return {k: float(keras.ops.convert_to_numpy(v)) for k, v in terms.items()}
