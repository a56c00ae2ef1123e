"""Stylize uint8 RGB frames with a transformation network, compiled once per backend.

Frames cross in and out as uint8: the cast, the network, the clip and the rounding all
run inside one compiled function (tf.function, with or without XLA, under TensorFlow;
jax.jit under JAX).
"""
from __future__ import annotations

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)

import numpy as np
from keras import ops

from .network import TransformNet

MIN_SIDE = 8  # the network's reflection padding needs at least this many pixels


class Stylizer:
    """Callable on (H, W, 3) or (N, H, W, 3) uint8 RGB; returns the same shape, uint8."""

    def __init__(self, net: TransformNet, engine: str = "graph"):
        """``engine``: graph, xla, or auto (the faster here, measured once: stylecam.engine)."""
        from .engine import choose_engine, compile_fn
        self.net = net
        self.engine = choose_engine(net, self._forward) if engine == "auto" else engine
        self._run = compile_fn(self._forward, self.engine)

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
