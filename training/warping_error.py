"""Temporal consistency: the warping error E_warp of Lai et al. (2018), with OpenCV only.

For each pair of consecutive INPUT frames (I_{t-1}, I_t):

- forward flow f (t-1 -> t) and backward flow b (t -> t-1) from OpenCV's DIS optical
  flow (``PRESET_MEDIUM``: variational refinement on, the most accurate preset) on the
  grayscale input frames. OpenCV's convention: I_{t-1}(x) ~ I_t(x + f(x)).
- occlusion mask M on the t-1 grid, Ruder et al. (2016)'s forward-backward check: with
  b~(x) = b(x + f(x)), a pixel is kept when
  |f + b~|^2 <= 0.01 (|f|^2 + |b~|^2) + 0.5, and x + f(x) lands inside the frame
  (content that leaves the picture cannot be compared). Ruder's optional
  motion-boundary test (|grad u|^2 + |grad v|^2 > 0.01 |f|^2 + 0.002) is available as
  ``motion_boundaries=True``; it is off by default because DIS flow is piecewise and
  the test then removes large textured areas.
- the output O_t is warped back to t-1 with cv2.remap (bilinear): W(x) = O_t(x + f(x)).
- E_t = sum_x M(x) * mean_c (O_{t-1}(x, c) - W(x, c))^2 / sum_x M(x), with O in [0, 1]
  RGB. The squared difference is AVERAGED over the 3 channels (Lai et al.'s reference
  code divides by the number of masked pixel-channels), so a uniform grey error of d
  gives d^2 whatever the colour.

E_warp = mean of E_t over the pairs; a pair whose mask is empty is skipped (counted in
``skipped``). The flow always comes from the input video, so the same pixels and the
same motion judge the input itself (the floor set by flow error) and every output.

Everything streams: only the previous frame of each stream is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

DIS_PRESET = cv2.DISOpticalFlow_PRESET_MEDIUM
CONSISTENCY_ALPHA = 0.01  # |f + b~|^2 <= ALPHA (|f|^2 + |b~|^2) + BETA   (Ruder et al.)
CONSISTENCY_BETA = 0.5
FLOW_METHOD = (
    "OpenCV DIS optical flow (PRESET_MEDIUM) on the input frames, occlusion mask by "
    "forward-backward check |f+b~|^2 <= 0.01(|f|^2+|b~|^2)+0.5; squared error averaged over RGB in [0,1]"
)


def _gray(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 RGB frames, got {frame.shape} {frame.dtype}")
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(image: np.ndarray, flow: np.ndarray, grid=None) -> np.ndarray:
    """W(x) = image(x + flow(x)), bilinear, borders replicated; float32 out."""
    h, w = flow.shape[:2]
    gx, gy = grid if grid is not None else _grid(h, w)
    return cv2.remap(
        np.asarray(image, np.float32),
        gx + flow[..., 0],
        gy + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def consistency_mask(
    forward: np.ndarray, backward: np.ndarray, grid=None, motion_boundaries: bool = False
) -> np.ndarray:
    """Bool (H, W) on the t-1 grid: pixels whose motion is trusted (see the module doc)."""
    h, w = forward.shape[:2]
    gx, gy = grid if grid is not None else _grid(h, w)
    back = warp(backward, forward, (gx, gy))
    sum_sq = np.sum((forward + back) ** 2, axis=2)
    norms = np.sum(forward**2, axis=2) + np.sum(back**2, axis=2)
    mask = sum_sq <= CONSISTENCY_ALPHA * norms + CONSISTENCY_BETA
    tx, ty = gx + forward[..., 0], gy + forward[..., 1]
    mask &= (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    if motion_boundaries:
        du = np.gradient(forward[..., 0])
        dv = np.gradient(forward[..., 1])
        grad_sq = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2
        mask &= grad_sq <= 0.01 * np.sum(forward**2, axis=2) + 0.002
    return mask


def pair_error(
    previous: np.ndarray, current: np.ndarray, flow: np.ndarray, mask: np.ndarray, grid=None
) -> float | None:
    """E_t for uint8 RGB outputs O_{t-1}, O_t; None when the mask is empty."""
    n = int(mask.sum())
    if n == 0:
        return None
    warped = warp(current, flow, grid) / 255.0
    diff = np.asarray(previous, np.float32) / 255.0 - warped
    per_pixel = np.mean(diff * diff, axis=2)
    return float(per_pixel[mask].sum(dtype=np.float64) / n)


@dataclass
class WarpingResult:
    errors: dict[str, float]  # name -> E_warp (nan when no pair had a mask)
    pairs: int  # frame pairs measured
    skipped: int  # pairs with an empty mask
    coverage: float  # mean fraction of pixels in the mask
    frames: int = 0
    size: tuple[int, int] = (0, 0)  # (width, height) measured at
    per_pair: dict[str, list[float]] = field(default_factory=dict)

    def ratio(self, name: str, reference: str = "input") -> float:
        ref, value = self.errors.get(reference, float("nan")), self.errors[name]
        if np.isnan(ref) or np.isnan(value):
            return float("nan")
        return value / ref if ref > 0 else (float("inf") if value > 0 else float("nan"))


class WarpingErrorMeter:
    """Feed input frames (and any number of named output streams) one at a time.

    ``add(input_frame, stylized=out_frame, ...)``; the input itself is always measured
    under the name ``input``. Flow and mask are computed once per pair and shared.
    """

    def __init__(self, preset: int = DIS_PRESET, motion_boundaries: bool = False, keep_per_pair: bool = False):
        self._dis = cv2.DISOpticalFlow_create(preset)
        self.motion_boundaries = motion_boundaries
        self.keep_per_pair = keep_per_pair
        self._prev_gray = None
        self._prev: dict[str, np.ndarray] = {}
        self._sums: dict[str, float] = {}
        self._per_pair: dict[str, list[float]] = {}
        self._grid = None
        self.pairs = self.skipped = self.frames = 0
        self._coverage = 0.0

    def add(self, input_frame: np.ndarray, **outputs: np.ndarray) -> None:
        streams = {"input": np.asarray(input_frame), **{k: np.asarray(v) for k, v in outputs.items()}}
        gray = _gray(streams["input"])
        for name, frame in streams.items():
            if frame.shape != streams["input"].shape:
                raise ValueError(f"{name} frame {frame.shape} != input frame {streams['input'].shape}")
        if self._prev_gray is not None:
            if gray.shape != self._prev_gray.shape:
                raise ValueError("frame size changed within the video")
            if set(streams) != set(self._prev):
                raise ValueError("every frame needs the same output streams")
            self._measure(gray, streams)
        self._prev_gray, self._prev = gray, streams
        self.frames += 1

    def _measure(self, gray, streams):
        h, w = gray.shape
        if self._grid is None or self._grid[0].shape != (h, w):
            self._grid = _grid(h, w)
        forward = self._dis.calc(self._prev_gray, gray, None)
        backward = self._dis.calc(gray, self._prev_gray, None)
        mask = consistency_mask(forward, backward, self._grid, self.motion_boundaries)
        self.pairs += 1
        self._coverage += float(mask.mean())
        if not mask.any():
            self.skipped += 1
            return
        for name, frame in streams.items():
            e = pair_error(self._prev[name], frame, forward, mask, self._grid)
            self._sums[name] = self._sums.get(name, 0.0) + e
            if self.keep_per_pair:
                self._per_pair.setdefault(name, []).append(e)

    def result(self) -> WarpingResult:
        used = self.pairs - self.skipped
        names = self._prev.keys() or ["input"]
        errors = {k: (self._sums[k] / used if used else float("nan")) for k in names}
        return WarpingResult(
            errors,
            self.pairs,
            self.skipped,
            self._coverage / self.pairs if self.pairs else 0.0,
            self.frames,
            (int(self._prev_gray.shape[1]), int(self._prev_gray.shape[0])) if self._prev_gray is not None else (0, 0),
            {k: list(v) for k, v in self._per_pair.items()},
        )


def warping_errors(
    inputs: Iterable[np.ndarray], outputs: Mapping[str, Iterable[np.ndarray]] | None = None, **kwargs
) -> WarpingResult:
    """E_warp of the input stream and of each named output stream (zipped frame by frame)."""
    outputs = dict(outputs or {})
    meter = WarpingErrorMeter(**kwargs)
    iters = {k: iter(v) for k, v in outputs.items()}
    for frame in inputs:
        try:
            outs = {k: next(it) for k, it in iters.items()}
        except StopIteration:
            raise ValueError("an output stream has fewer frames than the input") from None
        meter.add(frame, **outs)
    return meter.result()


def warping_error(inputs: Iterable[np.ndarray], outputs: Iterable[np.ndarray] | None = None, **kwargs) -> float:
    """E_warp of ``outputs`` under the flow of ``inputs`` (of ``inputs`` itself when None)."""
    if outputs is None:
        return warping_errors(inputs, **kwargs).errors["input"]
    return warping_errors(inputs, {"output": outputs}, **kwargs).errors["output"]


# ---------------------------------------------------------------- videos through a model


def video_frames(path, max_frames: int | None = None, max_size: int | None = None):
    """Decoded uint8 RGB frames of ``path`` (first ``max_frames``), long side at most ``max_size``."""
    from stylecam.stylize import scaled_size
    from stylecam.video_io import VideoReader

    reader = VideoReader(path)
    try:
        for i, f in enumerate(reader):
            if max_frames is not None and i >= max_frames:
                break
            img = f.image
            h, w = img.shape[:2]
            sw, sh = scaled_size(w, h, max_size)
            yield img if (sw, sh) == (w, h) else cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    finally:
        reader.close()


def video_warping_errors(
    processor, path, max_frames: int | None = None, max_size: int | None = None, batch: int = 4, **kwargs
) -> WarpingResult:
    """Stylize a video with ``processor`` (a stylecam StyleProcessor or any batch callable)
    and measure E_warp of the input (``input``) and of the result (``stylized``).

    Frames are scaled to long side ``max_size`` before both the network and the flow.
    """
    meter = WarpingErrorMeter(**kwargs)
    chunk: list[np.ndarray] = []

    def flush():
        styled = processor(np.stack(chunk))
        for a, b in zip(chunk, styled):
            meter.add(a, stylized=b)
        chunk.clear()

    for frame in video_frames(path, max_frames, max_size):
        chunk.append(frame)
        if len(chunk) == batch:
            flush()
    if chunk:
        flush()
    return meter.result()
