"""Johnson et al. (2016) image transformation network, written with keras.ops only.

The same layers run under TensorFlow (default) and JAX. Frames go in as float RGB
in [0, 255] and come out in the same range (unclipped; the stylizer clips).
"""
from __future__ import annotations

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)

import keras
import numpy as np
from keras import layers, ops

PACKAGE = "stylecam"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReflectionPad2D(layers.Layer):
    def __init__(self, pad: int, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):
        # Needed under JAX, where H and W are unknown (None) while tracing.
        grow = lambda d: None if d is None else d + 2 * self.pad  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


def _norm(name, dtype):
    # GroupNormalization with one group per channel is instance normalisation;
    # it computes its statistics in float32 even under mixed precision.
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvBlock(layers.Layer):
    """[upsample] -> [blur] -> reflection pad -> conv -> [instance norm] -> [relu].

    Up-sampling is nearest-neighbour (Johnson et al.), or bilinear with ``antialias``, which also
    blurs (binomial 1-2-1) before a strided convolution: resampling that does not alias (Zhang
    2019, "Making convolutional networks shift-invariant again"), so the block cannot hand the
    layers after it a pattern locked to its stride grid."""

    def __init__(self, filters, kernel, stride=1, upsample=1, norm=True, relu=True, antialias=0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel, self.stride = filters, kernel, stride
        self.upsample, self.norm, self.relu, self.antialias = upsample, norm, relu, int(bool(antialias))
        if self.antialias and upsample not in (1, 2):
            raise ValueError("an antialiased ConvBlock up-samples by 2 only")
        # Sub-layers take this layer's dtype policy (Keras does not pass it down).
        dt = self.dtype_policy
        self.up = None
        if upsample > 1:
            self.up = (Bilinear2x(dtype=dt) if self.antialias
                       else layers.UpSampling2D(upsample, interpolation="nearest", dtype=dt))
        self.blur = GridFilter(2, dtype=dt) if self.antialias and stride > 1 else None
        self.padding = ReflectionPad2D(kernel // 2, dtype=dt)
        self.conv = layers.Conv2D(filters, kernel, strides=stride, padding="valid", name="conv", dtype=dt)
        self.inorm = _norm("inorm", dt) if norm else None

    def call(self, x):
        if self.up is not None:
            x = self.up(x)
        if self.blur is not None:
            x = self.blur(x)
        x = self.conv(self.padding(x))
        if self.inorm is not None:
            x = self.inorm(x)
        return ops.relu(x) if self.relu else x

    def compute_output_shape(self, shape):
        def side(d):
            if d is None:
                return None
            return (d * self.upsample + 2 * (self.kernel // 2) - self.kernel) // self.stride + 1
        return (shape[0], side(shape[1]), side(shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel": self.kernel,
                "stride": self.stride, "upsample": self.upsample, "norm": self.norm,
                "relu": self.relu, "antialias": self.antialias}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidualBlock(layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.first = ConvBlock(filters, 3, name="first", dtype=self.dtype_policy)
        self.second = ConvBlock(filters, 3, relu=False, name="second", dtype=self.dtype_policy)

    def call(self, x):
        return x + self.second(self.first(x))

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelUnshuffle(layers.Layer):
    """(B, H, W, C) -> (B, H/f, W/f, C*f*f): each f x f block of pixels becomes channels."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        f, (b, h, w, c) = self.factor, ops.shape(x)
        x = ops.reshape(x, (b, h // f, f, w // f, f, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (b, h // f, w // f, f * f * c))

    def compute_output_shape(self, shape):
        f = self.factor
        return (shape[0], None if shape[1] is None else shape[1] // f,
                None if shape[2] is None else shape[2] // f, shape[3] * f * f)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelShuffle(PixelUnshuffle):
    """(B, H, W, C*f*f) -> (B, H*f, W*f, C): the inverse of PixelUnshuffle."""

    def call(self, x):
        f, (b, h, w, c) = self.factor, ops.shape(x)
        x = ops.reshape(x, (b, h, w, f, f, c // (f * f)))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (b, h * f, w * f, c // (f * f)))

    def compute_output_shape(self, shape):
        f = self.factor
        return (shape[0], None if shape[1] is None else shape[1] * f,
                None if shape[2] is None else shape[2] * f, shape[3] // (f * f))


@keras.saving.register_keras_serializable(package=PACKAGE)
class Bilinear2x(layers.Layer):
    """Bilinear x2 upsampling (half-pixel centres, edges clamped), from shifts and averages only,
    so it works for any H x W, known or not at trace time (UpSampling2D needs static sizes)."""

    def call(self, x):
        x = ops.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]], mode="symmetric")      # edge rows repeated
        x = self._interleave(0.75 * x[:, 1:-1] + 0.25 * x[:, :-2], 0.75 * x[:, 1:-1] + 0.25 * x[:, 2:], axis=1)
        x = ops.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]], mode="symmetric")
        return self._interleave(0.75 * x[:, :, 1:-1] + 0.25 * x[:, :, :-2],
                                0.75 * x[:, :, 1:-1] + 0.25 * x[:, :, 2:], axis=2)

    @staticmethod
    def _interleave(even, odd, axis):
        both = ops.stack([even, odd], axis=axis + 1)
        shape = ops.shape(even)
        new = [shape[0], shape[1], shape[2], shape[3]]
        new[axis] = new[axis] * 2
        return ops.reshape(both, new)

    def compute_output_shape(self, shape):
        grow = lambda d: None if d is None else 2 * d  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])


def _separable_filter(x, taps, pad: int, stride: int = 1):
    """``x`` filtered along H, then W, by the fixed ``taps`` after mirroring ``pad`` pixels on each
    side, keeping every ``stride``-th output: shifted (strided) slices and adds."""
    for axis in (1, 2):
        widths = [[0, 0]] * 4
        widths[axis] = [pad, pad]
        x = ops.pad(x, widths, mode="reflect")
        n = (ops.shape(x)[axis] - len(taps)) // stride + 1
        x = sum(float(t) * (x[:, k:k + stride * n:stride] if axis == 1 else x[:, :, k:k + stride * n:stride])
                for k, t in enumerate(taps))
    return x


@keras.saving.register_keras_serializable(package=PACKAGE)
class GridFilter(layers.Layer):
    """A fixed low-pass for an x``factor`` sub-pixel output: the separable triangle filter of
    width 2*factor - 1 (a box of ``factor`` taps, twice). Its response is zero at every frequency
    that repeats with the sub-pixel grid, so no pattern locked to that grid survives (a flat frame
    comes out flat, whatever the sub-pixel filters learned); smoother detail passes, softened."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        # Shifted slices and adds, one axis at a time, which XLA fuses: with a 3-channel depthwise
        # convolution instead, the fast network ran at 25 FPS at 640x360 (graph executor, which
        # then measured faster than XLA for it) against 56 FPS this way.
        f = self.factor
        return _separable_filter(x, np.convolve(np.ones(f), np.ones(f)) / f ** 2, pad=f - 1)

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Downsample2x(layers.Layer):
    """Every second pixel of the low-passed frame: the separable filter box4 * box4 * box2 (8 taps,
    centred between pixels 2i and 2i + 1 as a 2x2 block is), evaluated only where it is sampled.
    Its response is zero at the half-resolution Nyquist frequency and at every frequency that
    repeats with a 4-pixel grid, so the half-resolution frame carries (nearly) no aliasing: a body
    that folds it sees the same picture wherever the frame falls on its grid, only blurred."""

    TAPS = np.convolve(np.convolve(np.ones(4), np.ones(4)), np.ones(2)) / 32

    def call(self, x):
        return _separable_filter(x, self.TAPS, pad=len(self.TAPS) // 2 - 1, stride=2)

    def compute_output_shape(self, shape):
        half = lambda d: None if d is None else d // 2  # noqa: E731
        return (shape[0], half(shape[1]), half(shape[2]), shape[3])


def _fold_scatter(kernel: int = 3) -> np.ndarray:
    """P[Y, X, i, o, y, x] = 1 where tap (y, x) of a full-resolution ``kernel`` x ``kernel`` kernel,
    for output sub-pixel o of a 2x2 block, reads input sub-pixel i at offset (Y, X) - t of the
    folded (PixelUnshuffle(2)) grid, t = the folded kernel's radius."""
    r = kernel // 2
    t = (r + 1) // 2
    p = np.zeros((2 * t + 1, 2 * t + 1, 4, 4, kernel, kernel), "float32")
    for a in range(2):
        for b in range(2):
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    (oy, ai), (ox, bi) = divmod(a + dy, 2), divmod(b + dx, 2)
                    p[t + oy, t + ox, ai * 2 + bi, a * 2 + b, r + dy, r + dx] = 1.0
    return p


def _folded_conv(x, kernel, bias, scatter):
    """A full-resolution convolution (``kernel``: k x k x cin x cout) of the 2x2-folded ``x``, as
    the equivalent convolution over the folded channels (valid padding)."""
    k = ops.einsum("YXioyx,yxcd->YXicod", ops.cast(scatter, kernel.dtype), kernel)
    k = ops.reshape(k, (scatter.shape[0], scatter.shape[1], 4 * kernel.shape[2], 4 * kernel.shape[3]))
    return ops.conv(x, ops.cast(k, x.dtype), padding="valid") + ops.cast(ops.tile(bias, [4]), x.dtype)


def _bilinear_taps() -> np.ndarray:
    """U[a, dy, t]: row 2i + a + dy of a bilinear x2 up-sampling (half-pixel centres) as weights
    over the half-resolution rows i + t - 1."""
    u = np.zeros((2, 3, 3), "float32")
    for a in range(2):
        for dy in (-1, 0, 1):
            q, odd = divmod(a + dy, 2)
            u[a, dy + 1, q + 1] += 0.75
            u[a, dy + 1, q + 1 + (1 if odd else -1)] += 0.25
    return u


@keras.saving.register_keras_serializable(package=PACKAGE)
class DetailStage(layers.Layer):
    """A residual refinement at full resolution: two 3x3 convolutions (``filters`` channels, ReLU
    between) over the frame and the network's output, added to that output. Everything else in a
    shuffled design runs at 1/shuffle of the resolution and draws nothing finer than its grid
    allows; this stage can, and as the same kernel at every pixel it cannot lock a pattern to a
    grid. The last kernel starts at zero, so a network fine-tuned into this design (--init) starts
    from exactly its previous output.

    It computes on 2x2-folded pixels: each full-resolution kernel is scattered into the equivalent
    3x3 kernel over the folded channels (4x the multiply-adds, but convolutions with 4x the channels
    ran 3x faster on a CPU than 6 -> 3 channels at full resolution). Away from the border the result
    is exactly the full-resolution convolutions.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.fold, self.unfold = PixelUnshuffle(2, dtype=self.dtype_policy), PixelShuffle(2, dtype=self.dtype_policy)
        self.scatter = _fold_scatter(3)

    def build(self, frame_shape, styled_shape=None):
        f = self.filters
        self.hidden_kernel = self.add_weight((3, 3, 6, f), initializer="he_uniform", name="hidden_kernel")
        self.hidden_bias = self.add_weight((f,), initializer="zeros", name="hidden_bias")
        self.out_kernel = self.add_weight((3, 3, f, 3), initializer="zeros", name="out_kernel")
        self.out_bias = self.add_weight((3,), initializer="zeros", name="out_bias")

    def call(self, frame, styled):
        # Mirror 4 pixels (2 folded) at full resolution once, so both convolutions see a continuous
        # picture at the border (mirroring the folded grid would put 2x2 blocks out of order).
        x = ops.pad(ops.concatenate([frame, styled], axis=-1), [[0, 0], [4, 4], [4, 4], [0, 0]], mode="reflect")
        x = ops.relu(_folded_conv(self.fold(x), self.hidden_kernel, self.hidden_bias, self.scatter))
        return styled + self.unfold(_folded_conv(x, self.out_kernel, self.out_bias, self.scatter))

    def compute_output_shape(self, frame_shape, styled_shape):
        return styled_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package=PACKAGE)
class RenderStage(layers.Layer):
    """Half-resolution features and the frame to a full-resolution picture: bilinear x2
    up-sampling of the features, a 3x3 convolution of them and of the frame + ReLU, and a 5x5
    convolution to RGB, every one at full resolution. Unlike a sub-pixel output it treats every
    pixel alike, so it draws strokes finer than the body's grid without locking them to it; unlike
    the smooth output (bilinear up-sampling of RGB) it draws them from ``filters`` channels, and
    follows the frame's own edges. Computed on 2x2-folded pixels, as DetailStage: up-sampling and
    the first convolution are one 3x3 convolution of the half-resolution input into the four
    sub-pixels' channels. Away from the border it is exactly those full-resolution operators.
    The frame's kernel starts at zero (the stage first draws from the features alone)."""

    KERNEL = 5

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.fold, self.unfold = PixelUnshuffle(2, dtype=self.dtype_policy), PixelShuffle(2, dtype=self.dtype_policy)
        self.scatter, self.frame_scatter, self.taps = _fold_scatter(self.KERNEL), _fold_scatter(3), _bilinear_taps()

    def build(self, x_shape, frame_shape=None):
        f = self.filters
        self.hidden_kernel = self.add_weight((3, 3, x_shape[-1], f), initializer="he_uniform", name="hidden_kernel")
        self.frame_kernel = self.add_weight((3, 3, 3, f), initializer="zeros", name="frame_kernel")
        self.hidden_bias = self.add_weight((f,), initializer="zeros", name="hidden_bias")
        self.out_kernel = self.add_weight((self.KERNEL, self.KERNEL, f, 3), initializer="glorot_uniform",
                                          name="out_kernel")
        self.out_bias = self.add_weight((3,), initializer="zeros", name="out_bias")

    def call(self, x, frame):
        kernel = self.hidden_kernel
        u = ops.cast(self.taps, kernel.dtype)
        k = ops.reshape(ops.einsum("ayt,bxs,yxcf->tscabf", u, u, kernel), (3, 3, kernel.shape[2], 4 * self.filters))
        x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")   # Bilinear2x repeats the edge
        frame = self.fold(ops.pad(frame, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="reflect"))
        h = ops.relu(ops.conv(x, ops.cast(k, x.dtype), padding="valid")
                     + _folded_conv(frame, self.frame_kernel, self.hidden_bias, self.frame_scatter))
        # Mirror at full resolution (mirroring the folded grid would put 2x2 blocks out of order).
        m = self.scatter.shape[0] - 1
        h = self.fold(ops.pad(self.unfold(h), [[0, 0], [m, m], [m, m], [0, 0]], mode="reflect"))
        return self.unfold(_folded_conv(h, self.out_kernel, self.out_bias, self.scatter))

    def compute_output_shape(self, x_shape, frame_shape=None):
        grow = lambda d: None if d is None else 2 * d  # noqa: E731
        return (x_shape[0], grow(x_shape[1]), grow(x_shape[2]), 3)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


# The two bundled designs. "full" is Johnson et al.; "fast" (the live preview on a CPU) runs its
# body at 1/4 resolution and below (3x3 edges, width 16, three residual blocks at 1/8) and draws
# the picture at full resolution (README, "Fast networks"):
# - In: the frame low-passed at half resolution (antialias_input, Downsample2x) and folded 2x2, so
#   the body sees the same picture wherever it falls on the fold's grid (a plain 4x4 fold of the
#   full-resolution frame locked strokes to the 8-px grid, or needed a warp term so strong that it
#   erased them).
# - Out: 8 feature channels pixel-shuffled to 1/2 resolution (a x4 shuffle left a visible 4x4 block
#   grid), the grid filter removing the sub-pixel mesh they learn (antialias=1), then a RenderStage
#   draws RGB from them and from the frame with 3x3 and 5x5 convolutions at full resolution. The
#   previous fast design up-sampled RGB bilinearly and added a DetailStage (detail=4): nothing drawn
#   at 1/2 resolution matches a painting's finest strokes (the full network's own output, taken to
#   1/2 resolution and back, has 7x its style loss): on 64 photos its Starry Night had 5.8x the
#   full network's style loss, this design's 0.87x (Great Wave: 8.4x and 1.15x), at 1.16x its time
#   (1.81 GFLOP per 640x360 frame against 1.42).
# Both designs resample without aliasing (antialias_body): with the same weights the shipped full
# Starry Night's output moved with a 1-2 px shift of the picture 4-8x more exactly (less flicker).
DESIGNS = {
    "full": dict(width=32, residual_blocks=5, downsamples=2, edge_kernel=9, shuffle=1, smooth=1, subpixel=1,
                 antialias=0, detail=0, antialias_body=1, render=0, antialias_input=0),
    "fast": dict(width=16, residual_blocks=3, downsamples=1, edge_kernel=3, shuffle=4, smooth=2, subpixel=1,
                 antialias=1, detail=0, antialias_body=1, render=8, antialias_input=1),
}

# Design keys that add no weights: a model can be fine-tuned (--init) across them.
WEIGHTLESS_KEYS = ("antialias", "antialias_body")
# Design keys for which 0 is a valid value (off, or none); every other key is a positive integer.
MAY_BE_ZERO = ("downsamples", "subpixel", "antialias", "detail", "antialias_body", "render", "antialias_input")


def smooth_fits(shuffle: int, smooth: int, render: int = 0) -> bool:
    """A bilinear x``smooth`` output stage needs a power of 2 that divides ``shuffle``; a
    RenderStage (``render`` > 0) up-samples by exactly 2."""
    return shuffle % smooth == 0 and smooth & (smooth - 1) == 0 and (not render or smooth == 2)


@keras.saving.register_keras_serializable(package=PACKAGE)
class TransformNet(keras.Model):
    """Image transformation network.

    Johnson et al. with the defaults: ``width`` channels (32 in the paper) at full resolution,
    ``downsamples`` stride-2 stages doubling them, ``residual_blocks`` at the lowest resolution,
    as many nearest-upsample + conv stages back, ``edge_kernel`` the first and last convolution.
    ``shuffle`` > 1 first folds each shuffle x shuffle block of pixels into channels (and unfolds
    the output the same way), so every convolution runs at 1/shuffle of the resolution; with
    ``smooth`` > 1 the output unfolds only to 1/smooth of the resolution and is brought to full
    resolution by bilinear upsampling. ``subpixel=0`` replaces the output's unfolding (each
    sub-pixel its own filter, which learns a pattern locked to the shuffle grid) by bilinear
    upsampling of the last features to 1/smooth resolution, where the output convolution runs.
    ``antialias=1`` filters a sub-pixel output with GridFilter, which removes that pattern;
    ``antialias_body=1`` makes the stride-2 and up-sampling stages resample without aliasing
    (ConvBlock), so the body cannot lock a pattern to its own grid either. ``render`` > 0 (with
    ``smooth=2``) outputs that many channels at half resolution instead of RGB and draws the
    picture from them at full resolution (RenderStage) instead of up-sampling RGB bilinearly.
    It also reads the frame, at full resolution. ``antialias_input=1`` gives the body the frame
    low-passed at half resolution (Downsample2x), folded by shuffle / 2: it then depends far less on
    where the picture falls on the fold's grid, and its first convolution reads 4x fewer channels.
    Input H and W may be anything >= ``self.multiple`` (4 for Johnson et al., 8 for "fast"):
    they are mirrored up to a multiple of it and the output is cropped back to exactly H x W.
    ``metadata`` is a JSON-able dict carried in the model file (see stylecam.modelfile).
    """

    def __init__(self, width=32, residual_blocks=5, metadata=None, downsamples=2, edge_kernel=9,
                 shuffle=1, smooth=1, subpixel=1, antialias=0, detail=0, antialias_body=0, render=0,
                 antialias_input=0, **kwargs):
        super().__init__(**kwargs)
        self.width, self.residual_blocks = int(width), int(residual_blocks)
        self.downsamples, self.edge_kernel, self.shuffle = int(downsamples), int(edge_kernel), int(shuffle)
        self.smooth, self.subpixel, self.antialias = int(smooth), int(bool(subpixel)), int(bool(antialias))
        self.detail, self.antialias_body, self.render = int(detail), int(bool(antialias_body)), int(render)
        self.antialias_input = int(bool(antialias_input))
        if not smooth_fits(self.shuffle, self.smooth, self.render):
            raise ValueError(f"smooth ({self.smooth}) must be a power of 2 dividing shuffle ({self.shuffle}), "
                             "and 2 with render")
        if self.antialias_input and self.shuffle % 2:
            raise ValueError(f"antialias_input needs an even shuffle, not {self.shuffle}")
        in_shuffle = self.shuffle // 2 if self.antialias_input else self.shuffle
        out_shuffle = self.shuffle // self.smooth if self.subpixel else 1
        head_up = 0 if self.subpixel else (self.shuffle // self.smooth).bit_length() - 1
        self.multiple = self.shuffle * 2 ** self.downsamples
        self.metadata = dict(metadata or {})
        w, d, dt, aa = self.width, self.downsamples, self.dtype_policy, self.antialias_body
        self.blocks = [
            *([Downsample2x(name="antialias_input", dtype=dt)] if self.antialias_input else []),
            *([PixelUnshuffle(in_shuffle, name="unshuffle", dtype=dt)] if in_shuffle > 1 else []),
            ConvBlock(w, self.edge_kernel, name="in_conv", dtype=dt),
            *[ConvBlock(w * 2 ** i, 3, stride=2, antialias=aa, name=f"down{i}", dtype=dt) for i in range(1, d + 1)],
            *[ResidualBlock(w * 2 ** d, name=f"res{i + 1}", dtype=dt) for i in range(self.residual_blocks)],
            *[ConvBlock(w * 2 ** (d - i), 3, upsample=2, antialias=aa, name=f"up{i}", dtype=dt)
              for i in range(1, d + 1)],
            *[Bilinear2x(name=f"head_up{i + 1}", dtype=dt) for i in range(head_up)],
            ConvBlock((self.render or 3) * out_shuffle ** 2, self.edge_kernel, norm=False, relu=False,
                      name="out_conv", dtype=dt),
            *([PixelShuffle(out_shuffle, name="shuffle", dtype=dt)] if out_shuffle > 1 else []),
            *([GridFilter(out_shuffle, name="antialias", dtype=dt)] if out_shuffle > 1 and self.antialias else []),
            *([RenderStage(self.render, name="render", dtype=dt)] if self.render else
              [Bilinear2x(name="smooth" if i == 0 else f"smooth{i + 1}", dtype=dt)
               for i in range(self.smooth.bit_length() - 1)]),
        ]
        self.detail_stage = DetailStage(self.detail, name="detail", dtype=dt) if self.detail else None

    def init_subpixel(self):
        """ICNR initialisation (Aitken et al. 2017) of a shuffled output: all shuffle x shuffle
        sub-pixels start with the same filter, so the untrained network upsamples like nearest
        neighbour instead of drawing a grid of blocks (which training then never unlearns)."""
        reps = (self.shuffle // self.smooth) ** 2 if self.subpixel else 1
        if reps == 1 or self.render:   # features, not RGB: no upsampling to imitate
            return
        conv = next(b for b in self.blocks if getattr(b, "name", "") == "out_conv").conv
        kernel, bias = (ops.convert_to_numpy(v) for v in (conv.kernel, conv.bias))
        conv.kernel.assign(np.tile(kernel[..., :3], (1, 1, 1, reps)))
        conv.bias.assign(np.tile(bias[:3], reps))

    @property
    def design(self) -> dict:
        return dict(width=self.width, residual_blocks=self.residual_blocks, downsamples=self.downsamples,
                    edge_kernel=self.edge_kernel, shuffle=self.shuffle, smooth=self.smooth,
                    subpixel=self.subpixel, antialias=self.antialias, detail=self.detail,
                    antialias_body=self.antialias_body, render=self.render, antialias_input=self.antialias_input)

    def call(self, x):
        h, w = ops.shape(x)[1], ops.shape(x)[2]
        # Mirror up to a multiple of self.multiple, and to at least two of them, so the lowest
        # resolution is >= 2x2 (its 3x3 convolutions pad by reflection).
        x = ops.pad(x, [[0, 0], [0, self.padded_side(h) - h], [0, self.padded_side(w) - w], [0, 0]], mode="symmetric")
        # Centre the input range; the network learns in roughly [-1, 1].
        x = x / 127.5 - 1.0
        y = x
        for _, stage in self.stages():
            y = stage(y, x)
        y = (y + 1.0) * 127.5
        return ops.cast(y[:, :h, :w, :], "float32")

    def stages(self) -> list:
        """``(layer, fn(y, frame))`` for each stage call() runs on the normalised frame, in order:
        the render and detail stages read the frame as well as the output so far."""
        stages = [(b, (lambda y, frame, b=b: b(y, frame)) if isinstance(b, RenderStage) else (lambda y, frame, b=b: b(y)))
                  for b in self.blocks]
        if self.detail_stage is not None:
            stages.append((self.detail_stage, lambda y, frame: self.detail_stage(frame, y)))
        return stages

    def padded_side(self, side):
        """The side the network computes at for an input side (see call)."""
        m = self.multiple
        padded = side + (-side) % m
        return max(padded, 2 * m) if isinstance(side, int) else ops.maximum(padded, 2 * m)

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], shape[2], 3)

    def get_config(self):
        return {**super().get_config(), **self.design, "metadata": self.metadata}


def build_transform_net(width=32, residual_blocks=5, metadata=None, dtype=None, **design) -> TransformNet:
    """A built (weights created) transformation network; ``design`` as TransformNet's."""
    net = TransformNet(width, residual_blocks, metadata=metadata, dtype=dtype, **design)
    net(ops.zeros((1, 16, 16, 3)))
    return net


def parse_design(spec: str) -> dict:
    """A DESIGNS name, optionally followed by ``,key=value,...`` overrides, or ``key=value,...``
    over the full design (e.g. ``width=16,shuffle=2`` or ``fast,detail=8``)."""
    name, _, rest = spec.partition(",")
    if name in DESIGNS:
        design, items = dict(DESIGNS[name]), rest.split(",") if rest else []
    else:
        design, items = dict(DESIGNS["full"]), spec.split(",")
    for item in items:
        key, _, value = item.partition("=")
        if key.strip() not in design or not value.strip().isdigit() \
                or int(value) < 1 - (key.strip() in MAY_BE_ZERO):
            raise ValueError(f"design {spec!r}: use {' or '.join(DESIGNS)}, optionally followed by "
                             f"key=value pairs, with keys {', '.join(design)} (positive integers)")
        design[key.strip()] = int(value)
    if not smooth_fits(design["shuffle"], design["smooth"], design["render"]):
        raise ValueError(f"design {spec!r}: smooth must be a power of 2 dividing shuffle (2 with render)")
    if design["edge_kernel"] % 2 == 0:
        raise ValueError(f"design {spec!r}: edge_kernel must be odd")
    return design


def build_design(spec: str, metadata=None, dtype=None) -> TransformNet:
    """A built network of a design (see parse_design)."""
    return build_transform_net(metadata=metadata, dtype=dtype, **parse_design(spec))
