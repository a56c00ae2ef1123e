"""Temporal-stability training terms, in keras.ops (TensorFlow and JAX; inside the compiled step).

Flicker comes from a network that answers a small change of its input (the camera moved a
little, the sensor noise changed) with a large change of its output. Without video data we
make the change ourselves, so its optical flow is known exactly:

- warp consistency ("temporal"): a second view ``move(x)`` of each content crop by a small
  random similarity transform (translation, slight zoom, slight rotation) plus a mild brightness
  change and noise; the term is the mean, over pixels the motion does not uncover, of
  ``(net(move(x)) - move(net(x)))^2``.
- noise stability ("noise"): ``mean((net(x + n) - net(x))^2)``, n small Gaussian noise
  (Gupta et al. 2017, "Characterizing and Improving Stability in Neural Style Transfer").

Both compare outputs in grey levels [0, 255], squared, so they are mean squared errors per
channel value. Motions use ``keras.ops.image.affine_transform``'s convention (``move`` resamples
with gathers instead, so the training step compiles with XLA): the 8-vector
``[a0, a1, a2, b0, b1, b2, 0, 0]`` maps each *output* pixel (x, y) (x = column, y = row,
pixel centres at integers) to the input point ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras
from keras import ops

TEMPORAL_TERMS = ("temporal", "noise")

# Upper weights for the terms (LossWeights has lower defaults): each makes its term a fair share of
# the total on early networks; the measurements are in docs/design.md ("The warp term").
RECOMMENDED_TEMPORAL_WEIGHT = 1000.0
RECOMMENDED_NOISE_WEIGHT = 4000.0


@dataclass(frozen=True)
class Motion:
    """The random second view: shift, zoom, degrees and brightness are drawn uniformly in
    [-r, r] per image; view_noise and noise are Gaussian sigmas per pixel."""

    shift: float = 4.0  # translation, pixels (each axis)
    zoom: float = 0.03  # relative scale change
    degrees: float = 2.0  # rotation about the image centre
    brightness: float = 0.03  # relative gain of the moved view
    view_noise: float = 2.0  # Gaussian noise on the moved view, grey levels (sigma)
    noise: float = 3.0  # Gaussian noise of the noise-stability term, grey levels (sigma)

    def as_dict(self):
        return asdict(self)


def similarity_transforms(shift, zoom, radians, height, width):
    """(B, 8) affine_transform rows for per-image motions about the image centre.

    ``shift`` (B, 2) is (dx, dy) in pixels, ``zoom`` (B,) a relative scale change (0 = none),
    ``radians`` (B,) a rotation. Content at input point p moves to
    ``s R (p - c) + c + t``; the row holds the inverse map (output -> input point).
    """
    shift = ops.cast(shift, "float32")
    scale = 1.0 + ops.cast(zoom, "float32")
    cos, sin = ops.cos(ops.cast(radians, "float32")), ops.sin(ops.cast(radians, "float32"))
    cx = (ops.cast(width, "float32") - 1.0) / 2.0
    cy = (ops.cast(height, "float32") - 1.0) / 2.0
    # p_in = R^T (p_out - c - t) / s + c
    a0, a1 = cos / scale, sin / scale
    b0, b1 = -sin / scale, cos / scale
    px, py = cx + shift[:, 0], cy + shift[:, 1]
    a2 = cx - (a0 * px + a1 * py)
    b2 = cy - (b0 * px + b1 * py)
    zero = ops.zeros_like(a0)
    return ops.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)


def random_transforms(batch, height, width, seed, motion: Motion = Motion()):
    """(B, 8) random small motions; ``seed`` a keras.random.SeedGenerator (or int)."""
    u = keras.random.uniform((batch, 4), minval=-1.0, maxval=1.0, seed=seed)
    return similarity_transforms(
        u[:, 0:2] * motion.shift, u[:, 2] * motion.zoom, u[:, 3] * (motion.degrees * math.pi / 180.0), height, width
    )


def move(images, transforms, fill_mode="constant"):
    """Bilinear resampling of (B, H, W, C) ``images`` by per-image ``transforms``.

    The same result as ``keras.ops.image.affine_transform(..., interpolation="bilinear")`` with
    fill value 0, written with gathers so that XLA compiles it (TensorFlow's
    ImageProjectiveTransformV3 has no XLA kernel). ``fill_mode``: "constant" (0 outside) or
    "reflect" (d c b a | a b c d | d c b a), for motions smaller than the image.
    """
    x = ops.cast(images, "float32")
    shape = ops.shape(x)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    t = ops.cast(transforms, "float32")[:, :, None, None]  # (B, 8, 1, 1)
    cols = ops.cast(ops.arange(width), "float32")[None, None, :]  # (1, 1, W)
    rows = ops.cast(ops.arange(height), "float32")[None, :, None]  # (1, H, 1)
    src_x = t[:, 0] * cols + t[:, 1] * rows + t[:, 2]  # (B, H, W)
    src_y = t[:, 3] * cols + t[:, 4] * rows + t[:, 5]
    if fill_mode == "reflect":
        src_x, src_y = _reflect(src_x, width), _reflect(src_y, height)
    elif fill_mode != "constant":
        raise ValueError(f"fill_mode must be constant or reflect, not {fill_mode!r}")
    flat = ops.reshape(x, (-1, channels))
    first = (ops.arange(batch) * height * width)[:, None, None]  # (B, 1, 1)
    x0, y0 = ops.floor(src_x), ops.floor(src_y)
    last_x, last_y = ops.cast(width - 1, "float32"), ops.cast(height - 1, "float32")
    out = 0.0
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):  # the four bilinear taps
        xi, yi = x0 + dx, y0 + dy
        weight = (1.0 - ops.abs(src_x - xi)) * (1.0 - ops.abs(src_y - yi))
        inside = (xi >= 0) & (xi <= last_x) & (yi >= 0) & (yi <= last_y)  # else the fill value 0
        xi = ops.clip(ops.cast(xi, "int32"), 0, width - 1)
        yi = ops.clip(ops.cast(yi, "int32"), 0, height - 1)
        taps = ops.take(flat, first + yi * width + xi, axis=0)  # (B, H, W, C)
        out = out + taps * (weight * ops.cast(inside, "float32"))[..., None]
    return out


def _reflect(coord, size):
    """Map coordinates outside [0, size - 1] back inside by reflection about the edge pixels,
    as TensorFlow's fill_mode "reflect" does for overshoots smaller than ``size``."""
    size = ops.cast(size, "float32")
    coord = ops.where(coord < 0, -coord - 1.0, coord)
    coord = ops.where(coord > size - 1.0, 2.0 * size - coord - 1.0, coord)
    return ops.clip(coord, 0.0, size - 1.0)


def valid_mask(transforms, like):
    """(B, H, W, 1) 1.0 where every bilinear tap of the motion lands inside the image."""
    ones = ops.ones_like(ops.cast(like[..., :1], "float32"))
    return ops.cast(move(ones, transforms) > 0.999, "float32")


def warp_error(moved_output, output, transforms):
    """Masked mean of (moved_output - move(output))^2 over valid pixels and channels."""
    target = move(output, transforms)
    mask = valid_mask(transforms, output)
    d = ops.square(ops.cast(moved_output, "float32") - target) * mask
    channels = ops.cast(ops.shape(output)[-1], "float32")
    return ops.sum(d) / ops.maximum(ops.sum(mask) * channels, 1.0)


def moved_view(x, transforms, seed, motion: Motion = Motion()):
    """The second view: moved (edges filled by reflection), brightness-jittered and noisy."""
    x = ops.cast(x, "float32")
    batch = ops.shape(x)[0]
    gain = 1.0 + motion.brightness * keras.random.uniform((batch, 1, 1, 1), -1.0, 1.0, seed=seed)
    noise = motion.view_noise * keras.random.normal(ops.shape(x), seed=seed)
    return ops.clip(move(x, transforms, fill_mode="reflect") * gain + noise, 0.0, 255.0)


def stability_terms(net, x, output, seed, temporal=True, noise=True, motion: Motion = Motion()):
    """{"temporal": ..., "noise": ...} (those asked for) for content batch ``x`` whose
    stylization is ``output`` = net(x). The extra views go through ``net`` in one call."""
    x = ops.cast(x, "float32")
    shape = ops.shape(x)
    views, terms = [], {}
    if temporal:
        transforms = random_transforms(shape[0], shape[1], shape[2], seed, motion)
        views.append(moved_view(x, transforms, seed, motion))
    if noise:
        views.append(ops.clip(x + motion.noise * keras.random.normal(shape, seed=seed), 0.0, 255.0))
    if not views:
        return terms
    both = net(ops.concatenate(views, axis=0) if len(views) > 1 else views[0])
    first, last = (both[: shape[0]], both[shape[0] :]) if len(views) > 1 else (both, both)
    output = ops.cast(output, "float32")
    if temporal:
        terms["temporal"] = warp_error(first, output, transforms)
    if noise:
        terms["noise"] = ops.mean(ops.square(ops.cast(last, "float32") - output))
    return terms


def measure(net, images, seed=0, motion: Motion = Motion(), batch=4) -> dict:
    """Mean temporal and noise terms of ``net`` over float [0, 255] ``images`` (N, H, W, 3),
    outside training (e.g. to compare a stabilised network with a per-frame one)."""
    import numpy as np

    gen = keras.random.SeedGenerator(seed)
    sums, n = {t: 0.0 for t in TEMPORAL_TERMS}, 0
    for i in range(0, len(images), batch):
        x = ops.convert_to_tensor(np.asarray(images[i : i + batch], "float32"))
        terms = stability_terms(net, x, net(x), gen, motion=motion)
        k = int(ops.shape(x)[0])
        for t in TEMPORAL_TERMS:
            sums[t] += float(ops.convert_to_numpy(terms[t])) * k
        n += k
    return {t: s / n for t, s in sums.items()}
