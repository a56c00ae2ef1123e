"""The network stage: downscale (--max-size), stylize, scale back, colour and strength.

One ``StyleProcessor`` serves convert, live and bench; live changes its ``look`` and
``stylizer`` between frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import UserError
from .postprocess import finish


@dataclass
class Look:
    strength: float = 1.0
    preserve_color: bool = False
    max_size: int | None = None   # long side the network sees; output returns to full size


def select_device(device: str) -> None:
    """``cpu`` hides GPUs from TensorFlow, ``gpu`` requires one, ``auto`` uses what is there.

    Call before the first model is loaded.
    """
    if device not in ("auto", "cpu", "gpu"):
        raise UserError(f"--device must be cpu, gpu or auto, not {device!r}")
    if device == "auto":
        return
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu":
        if gpus:
            tf.config.set_visible_devices([], "GPU")
    elif not gpus:
        raise UserError("--device gpu: TensorFlow sees no GPU here (check the CUDA driver, "
                        "or use --device cpu)")


def check_quality(quality: str, allowed) -> str:
    if quality not in allowed:
        raise UserError(f"--quality must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {quality!r}")
    return quality


def live_quality(quality: str) -> str:
    """``auto``: the fast networks unless a GPU runs the full ones in real time."""
    if quality != "auto":
        return quality
    from .hardware import uses_gpu
    return "full" if uses_gpu() else "fast"


def load_stylizer(style: str | None, quality: str = "full", precision: str = "auto"):
    """A style name or model path -> a compiled Stylizer (UserError when it cannot load).
    ``quality`` picks a bundled style's full or fast network (full where it has no fast one).

    ``precision`` "auto" uses bfloat16 or float16 only where the hardware computes it
    natively, the output stays within 40 dB PSNR of float32's and it is at least 5% faster
    (stylecam.precision.auto_precision)."""
    from .modelfile import load_model
    from .precision import PRECISIONS, auto_precision, inference_net
    from .styles import resolve_style
    from .stylizer import Stylizer

    if precision not in ("auto", *PRECISIONS):
        raise UserError(f"--precision must be auto or one of {', '.join(PRECISIONS)}, not {precision!r}")
    net = load_model(resolve_style(style, quality))
    chosen = auto_precision(net) if precision == "auto" else precision
    return Stylizer(inference_net(net, chosen), engine="auto")


def scaled_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    if not max_size or max(width, height) <= max_size:
        return width, height
    s = max_size / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


class StyleProcessor:
    """Callable on a uint8 RGB batch (N, H, W, 3); returns the finished batch, same shape."""

    def __init__(self, stylizer, look: Look | None = None):
        self.stylizer = stylizer
        self.look = look or Look()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        look = self.look
        n, h, w = frames.shape[:3]
        sw, sh = scaled_size(w, h, look.max_size)
        if (sw, sh) != (w, h):
            small = np.stack([cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) for f in frames])
            styled = self.stylizer.stylize_batch(small)
            styled = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in styled])
        else:
            styled = self.stylizer.stylize_batch(frames)
        return finish(frames, styled, look.strength, look.preserve_color)
