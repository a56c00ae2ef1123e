"""A network compiled to stylize uint8 RGB frames.

Frames cross in and out as uint8: the cast, the network, the clip and the rounding all run in
one compiled function (tf.function, with or without XLA, under TensorFlow; jax.jit under JAX).
"""

from __future__ import annotations

import contextlib
import functools
import time

import keras
import numpy as np
from keras import ops

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)
from .errors import UserError, out_of_memory

ENGINES = ("graph", "xla")
# On a GPU one call may take more pixels than a network's max_pixels: up to this share of the
# GPU's memory, at a generous bound on a network's live activations per pixel.
GPU_MEMORY_SHARE = 0.25
BYTES_PER_PIXEL = 1024
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
        # Pixels one call may take (callers split larger batches): a network's bound, more on a GPU.
        self.call_pixels = max(getattr(net, "max_pixels", 0), gpu_call_pixels())

    def forward(self, frames):
        y = self.net(ops.cast(frames, "float32"), training=False)
        return ops.cast(ops.round(ops.clip(y, 0.0, 255.0)), "uint8")

    def submit(self, frames: np.ndarray) -> Pending:
        """Start stylizing (N, H, W, 3) uint8 frames; ``result()`` of what it returns waits for them.
        Under JAX (and TensorFlow on a GPU) the call returns before the device finishes, so the
        caller can prepare the next batch meanwhile."""
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        n, h, w = frames.shape[:3]
        ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        if ph or pw:
            frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
        with _memory_errors(n, h, w):
            return Pending(self._run(frames), n, h, w)

    def stylize_batch(self, frames: np.ndarray) -> np.ndarray:
        return self.submit(frames).result()

    def stylize(self, frame: np.ndarray) -> np.ndarray:
        return self.stylize_batch(frame[None])[0]

    __call__ = stylize


class Pending:
    """A batch on its way through the network."""

    def __init__(self, value, n: int, h: int, w: int):
        self._value, self.n, self.h, self.w = value, n, h, w

    def result(self) -> np.ndarray:
        with _memory_errors(self.n, self.h, self.w):  # asynchronous backends fail here
            out = ops.convert_to_numpy(self._value)
        return out[:, : self.h, : self.w]


@contextlib.contextmanager
def _memory_errors(n: int, h: int, w: int):
    """A backend's out-of-memory error as one line naming the batch and size."""
    try:
        yield
    except Exception as e:
        if not out_of_memory(e):
            raise
        from .hardware import uses_gpu

        where = " on the GPU" if uses_gpu() else ""
        raise UserError(
            f"out of memory{where} stylizing {n} frame{'s' if n != 1 else ''} of {w}x{h} at once: "
            "use a smaller --batch, or --max-size to stylize smaller frames"
        ) from None


@functools.cache
def gpu_call_pixels() -> int:
    """Pixels one network call may take on this machine's GPU (0 without one)."""
    from .hardware import gpu_info, uses_gpu

    if not uses_gpu():
        return 0
    memory = [g["memory_gib"] for g in gpu_info() if g.get("memory_gib")]
    return int(min(memory) * 2**30 * GPU_MEMORY_SHARE / BYTES_PER_PIXEL) if memory else 0


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
