"""Perceptual losses (Johnson et al. 2016), in keras.ops: one module for training,
Gatys optimisation and evaluation.

Conventions: images are float RGB in [0, 255], batch first. Feature maps come from
training.vgg. Every term is a mean, so its size does not depend on resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from keras import ops

CONTENT_LAYER = "relu2_2"
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; ``stylecam train``'s defaults. ``temporal`` and ``noise`` weight
    the stability terms of training.temporal: the warp term is on by default because it cut flicker
    in every controlled run at little cost in style (docs/design.md, "The warp term"); it makes
    each step slower.
    The noise term is off (training.temporal.RECOMMENDED_NOISE_WEIGHT when wanted). ``distill``
    weights the teacher term of a fast network (training.train, ``--teacher``). PerceptualLoss
    itself only uses content, style and tv."""

    content: float = 1.0
    style: float = 10.0
    tv: float = 1.0
    temporal: float = 100.0
    noise: float = 0.0
    distill: float = 0.0  # squared pixel difference to a teacher network's output

    @property
    def temporal_training(self) -> bool:
        return self.temporal > 0 or self.noise > 0

    def as_dict(self):
        return asdict(self)


def gram(features):
    """(B, H, W, C) -> (B, C, C) Gram matrix normalised by H*W*C, in float32."""
    f = ops.cast(features, "float32")
    b, h, w, c = ops.shape(f)
    f = ops.reshape(f, (b, h * w, c))
    return ops.matmul(ops.transpose(f, (0, 2, 1)), f) / ops.cast(h * w * c, "float32")


def content_loss(features, target_features):
    d = ops.cast(features, "float32") - ops.cast(target_features, "float32")
    return ops.mean(ops.square(d))


def style_loss(grams, target_grams):
    """Sum over layers of the mean squared Gram difference; targets broadcast over the batch."""
    return sum(ops.mean(ops.square(g - t)) for g, t in zip(grams, target_grams))


def distill_loss(output, teacher_output):
    """Mean squared pixel difference to the teacher's stylization, in [0, 255] units."""
    return ops.mean(ops.square(ops.cast(output, "float32") - ops.cast(teacher_output, "float32")))


def tv_loss(images):
    x = ops.cast(images, "float32")
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return ops.mean(ops.square(dy)) + ops.mean(ops.square(dx))


class PerceptualLoss:
    """Content, style and total-variation terms against one style image."""

    def __init__(
        self,
        style_image: np.ndarray,
        vgg,
        weights: LossWeights = LossWeights(),
        style_layers=STYLE_LAYERS,
        content_layer=CONTENT_LAYER,
    ):
        self.vgg, self.weights = vgg, weights
        self.style_layers, self.content_layer = tuple(style_layers), content_layer
        feats = vgg(np.asarray(style_image, "float32")[None])
        self.style_grams = [ops.convert_to_tensor(ops.convert_to_numpy(gram(feats[n]))) for n in self.style_layers]

    def content_features(self, images):
        return self.vgg(images)[self.content_layer]

    def terms(self, output, content_features):
        """Loss terms for stylized ``output`` given the content images' relu2_2 features."""
        feats = self.vgg(output)
        c = content_loss(feats[self.content_layer], content_features)
        s = style_loss([gram(feats[n]) for n in self.style_layers], self.style_grams)
        t = tv_loss(output)
        w = self.weights
        return {"content": c, "style": s, "tv": t, "total": w.content * c + w.style * s + w.tv * t}
