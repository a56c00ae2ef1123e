"""A network compiled to stylize uint8 RGB frames.

Frames cross in and out as uint8: the cast, the network, the clip and the rounding all run in
one compiled function (tf.function, with or without XLA, under TensorFlow; jax.jit under JAX).
"""

from __future__ import annotations

import time

import keras
import numpy as np
from keras import ops

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)

ENGINES = ("graph", "xla")
MIN_SIDE = 8  # the network's reflection padding needs at least this many pixels


def compile_fn(fn, engine: str):
    """``fn`` compiled for the current backend; ``engine`` matters under TensorFlow only."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True, jit_compile=engine == "xla")
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


class Stylizer:
    """Callable on (H, W, 3) uint8 RGB; ``stylize_batch`` on (N, H, W, 3). Same shape out, uint8."""

    def __init__(self, net, engine: str = "graph"):
        self.net, self.engine = net, engine
        self._run = compile_fn(self.forward, engine)

    def forward(self, frames):
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


def best_seconds(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``fn`` (which must wait for its result), in seconds."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def interleaved_best_seconds(runs: dict, frames, rounds: int = 7) -> dict:
    """The fastest call of each function on ``frames``, timed in alternation: on a shared machine a
    burst of load then slows every contender alike instead of deciding the race."""
    for run in runs.values():
        ops.convert_to_numpy(run(frames))  # compile
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], best_seconds(lambda run=run: ops.convert_to_numpy(run(frames)), 1))
    return best
