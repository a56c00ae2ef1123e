"""The one frame path of convert, live and bench: load a style, then for each batch of frames
downscale (``max_size``), run the network, scale back, keep the colours, blend (``strength``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import UserError
from .hardware import uses_gpu
from .styles import DEFAULT_STYLE, display_name, parse_blend, resolve_style

QUALITIES = ("full", "fast")
# Larger frames are stylized at a network's ``max_pixels`` (this by default) and scaled back, and
# no network call takes more: peak memory stays bounded whatever the frame size.
MAX_NETWORK_PIXELS = 1920 * 1080


@dataclass
class Look:
    strength: float = 1.0
    preserve_color: bool = False
    max_size: int | None = None  # long side the network sees; the output returns to full size


def check_quality(quality: str, allowed=QUALITIES) -> str:
    if quality not in allowed:
        raise UserError(f"--quality must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {quality!r}")
    return quality


def live_quality(quality: str) -> str:
    """``auto``: the fast networks unless a GPU runs the full ones in real time."""
    if quality != "auto":
        return quality
    return "full" if uses_gpu() else "fast"


def load_stylizer(style: str | None, quality: str = "full", precision: str = "auto"):
    """A style name or model path -> a compiled Stylizer (UserError when it cannot load).
    ``quality`` picks a bundled style's full or fast network (full where it has no fast one);
    ``precision`` "auto" is stylecam.tuning.auto_precision's choice."""
    # Keras and TensorFlow load here, when a network is needed, so --help and errors stay instant.
    from .modelfile import load_model
    from .tuning import PRECISIONS, auto_precision, inference_net, tuned_stylizer

    if precision not in ("auto", *PRECISIONS):
        raise UserError(f"--precision must be auto or one of {', '.join(PRECISIONS)}, not {precision!r}")
    parts = parse_blend(style or DEFAULT_STYLE)
    net = load_model(resolve_style(parts[0][0], quality))
    if len(parts) > 1:
        from .network import blend_networks

        others = [(load_model(resolve_style(name, quality)), w) for name, w in parts[1:]]
        try:
            net = blend_networks([(net, parts[0][1]), *others])
        except ValueError as e:
            raise UserError(f"--style {style}: {e}") from None
        net.metadata["name"] = display_name(style)
    chosen = auto_precision(net) if precision == "auto" else precision
    return tuned_stylizer(inference_net(net, chosen))


def scaled_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    if not max_size or max(width, height) <= max_size:
        return width, height
    s = max_size / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def working_size(width: int, height: int, max_size: int | None = None, max_pixels: int = MAX_NETWORK_PIXELS):
    """The size (w, h) the network stylizes a ``width`` x ``height`` frame at: ``max_size`` (long
    side), and at most ``max_pixels``."""
    w, h = scaled_size(width, height, max_size)
    if w * h > max_pixels:
        s = (max_pixels / (w * h)) ** 0.5
        w, h = max(1, int(w * s)), max(1, int(h * s))
    return w, h


def blend(original: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` 1 is the stylized frame, 0 the original; uint8 in, uint8 out."""
    strength = float(np.clip(strength, 0.0, 1.0))
    if strength >= 1.0:
        return stylized
    if strength <= 0.0:
        return original.copy()
    out = original.astype(np.float32) * (1.0 - strength) + stylized.astype(np.float32) * strength
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def preserve_color(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Stylized luminance with the original's chroma (YCrCb), for one RGB frame or a batch."""
    if original.ndim == 4:
        return np.stack([preserve_color(o, s) for o, s in zip(original, stylized)])
    ycc = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[..., 0]
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def finish(original: np.ndarray, stylized: np.ndarray, strength: float = 1.0, keep_color: bool = False) -> np.ndarray:
    """Colour preservation first, then the strength blend."""
    if keep_color:
        stylized = preserve_color(original, stylized)
    return blend(original, stylized, strength)


class StyleProcessor:
    """Callable on a uint8 RGB batch (N, H, W, 3); returns the finished batch, same shape.
    Live changes its ``look`` between frames and its stylizer with ``switch``."""

    def __init__(self, stylizer, look: Look | None = None):
        self.stylizer = stylizer
        self.look = look or Look()
        self.working_size: tuple[int, int] | None = None  # (w, h) the network saw last
        self._fade: tuple | None = None  # (previous stylizer, start time, seconds)

    def switch(self, stylizer, seconds: float = 0.0) -> None:
        """Use ``stylizer`` from now on, cross-fading from the current one over ``seconds``."""
        self._fade = (self.stylizer, time.perf_counter(), seconds) if seconds > 0 else None
        self.stylizer = stylizer

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.submit(frames)()

    def submit(self, frames: np.ndarray):
        """Start a batch through the network; call what it returns for the finished batch. The
        look and the fade are those of now, whenever the result is asked for."""
        look = self.look
        n, h, w = frames.shape[:3]
        max_pixels = getattr(getattr(self.stylizer, "net", None), "max_pixels", MAX_NETWORK_PIXELS)
        sw, sh = self.working_size = working_size(w, h, look.max_size, max_pixels)
        small = frames
        if (sw, sh) != (w, h):
            small = np.stack([cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) for f in frames])
        per_call = max(1, max(max_pixels, getattr(self.stylizer, "call_pixels", 0)) // (sw * sh))

        def start(stylizer):
            return [_submit(stylizer, small[i : i + per_call]) for i in range(0, n, per_call)]

        pending, faded = start(self.stylizer), None
        if self._fade is not None:
            previous, began, seconds = self._fade
            progress = (time.perf_counter() - began) / seconds
            if progress < 1.0:
                faded = start(previous), progress  # both networks only while fading
            else:
                self._fade = None

        def result() -> np.ndarray:
            styled = np.concatenate([p.result() for p in pending])
            if faded is not None:
                styled = blend(np.concatenate([p.result() for p in faded[0]]), styled, faded[1])
            if (sw, sh) != (w, h):
                styled = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in styled])
            return finish(frames, styled, look.strength, look.preserve_color)

        return result


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _submit(stylizer, frames):
    """``stylizer.submit`` where it has one (Stylizer); anything with ``stylize_batch`` runs now."""
    submit = getattr(stylizer, "submit", None)
    return submit(frames) if submit else _Done(stylizer.stylize_batch(frames))
