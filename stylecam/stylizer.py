"""Stylize uint8 RGB frames with a transformation network, compiled once per backend.

Frames cross in and out as uint8: the cast, the network, the clip and the rounding all
run inside one compiled function (tf.function under TensorFlow, jax.jit under JAX).
"""
from __future__ import annotations

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)

import numpy as np
import keras
from keras import ops

from .network import TransformNet

MIN_SIDE = 8  # the network's reflection padding needs at least this many pixels


def _compile(fn):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, reduce_retracing=True, jit_compile=False)
    if backend == "jax":
        import jax
        return jax.jit(fn)
    return fn


class Stylizer:
    """Callable on (H, W, 3) or (N, H, W, 3) uint8 RGB; returns the same shape, uint8."""

    def __init__(self, net: TransformNet):
        self.net = net
        self._run = _compile(self._forward)

    def _forward(self, frames):
        y = self.net(ops.cast(frames, "float32"), training=False)
        return ops.cast(ops.round(ops.clip(y, 0.0, 255.0)), "uint8")

    def stylize_batch(self, frames: np.ndarray) -> np.ndarray:
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        n, h, w = frames.shape[:3]
        ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        if ph or pw:
            frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
        out = ops.convert_to_numpy(self._run(frames))
        return out[:, :h, :w]

    def stylize(self, frame: np.ndarray) -> np.ndarray:
        return self.stylize_batch(frame[None])[0]

    __call__ = stylize
