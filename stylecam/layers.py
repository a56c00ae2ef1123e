"""The building blocks of stylecam's networks, written with keras.ops only (TensorFlow and JAX).

Every layer keeps any frame size: reflection padding instead of zero padding, and resampling by
shifts, slices and reshapes that work when H and W are unknown while tracing.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

PACKAGE = "stylecam"


def _side(d, scale, extra=0):
    """A side after resampling by ``scale`` and padding by ``extra``; None stays unknown."""
    return None if d is None else int(d * scale) + extra


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
        return (shape[0], _side(shape[1], 1, 2 * self.pad), _side(shape[2], 1, 2 * self.pad), shape[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


@keras.saving.register_keras_serializable(package=PACKAGE)
class InstanceNorm(layers.Layer):
    """Instance normalisation (Ulyanov et al. 2016) with a learned scale and shift per channel,
    its statistics in float32 even under mixed precision. Keras's GroupNormalization computes the
    same through a 5-D reshape, which TensorFlow Lite's converter turns into garbage."""

    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, shape):
        self.gamma = self.add_weight((shape[-1],), initializer="ones", name="gamma")
        self.beta = self.add_weight((shape[-1],), initializer="zeros", name="beta")

    def call(self, x):
        # Both moments in one float32 pass over x: half the memory traffic of mean, then variance.
        xf = ops.cast(x, "float32")
        mean = ops.mean(xf, axis=[1, 2], keepdims=True)
        variance = ops.maximum(ops.mean(ops.square(xf), axis=[1, 2], keepdims=True) - ops.square(mean), 0.0)
        inv = ops.rsqrt(variance + self.epsilon) * ops.cast(self.gamma, "float32")
        shift = ops.cast(self.beta, "float32") - mean * inv
        y = xf * inv + shift
        return ops.cast(ops.cast(y, x.dtype), self.compute_dtype)

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvBlock(layers.Layer):
    """[bilinear x2 up-sampling] -> [blur] -> reflection pad -> conv -> [instance norm] -> [ReLU].

    Resampling does not alias (Zhang 2019, "Making convolutional networks shift-invariant again"):
    up-sampling is bilinear and a strided convolution reads a blurred (binomial 1-2-1) input, so no
    block hands the next a pattern locked to its stride grid. ``fold``: the same numbers computed
    on 2x2-folded pixels, faster where a full-resolution convolution has few channels."""

    def __init__(self, filters, kernel, stride=1, upsample=False, norm=True, relu=True, fold=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel, self.stride = int(filters), int(kernel), int(stride)
        self.upsample, self.norm, self.relu, self.fold = bool(upsample), bool(norm), bool(relu), bool(fold)
        if self.fold and (self.stride != 1 or (self.upsample and self.kernel != 3)):
            raise ValueError("fold computes stride-1 convolutions (3x3 after up-sampling) only")
        dt = self.dtype_policy  # sub-layers take this layer's policy (Keras does not pass it down)
        self.up = Bilinear2x(dtype=dt) if self.upsample else None
        self.blur = _blur_scatter(self.kernel) if self.stride > 1 else None
        self.pad = ReflectionPad2D(self.kernel // 2, dtype=dt)
        self.conv = layers.Conv2D(self.filters, self.kernel, strides=self.stride, name="conv", dtype=dt)
        self.inorm = InstanceNorm(name="inorm", dtype=dt) if self.norm else None
        if self.fold:
            self.folder, self.unfolder = PixelUnshuffle(2, dtype=dt), PixelShuffle(2, dtype=dt)
            self.scatter = None if self.upsample else _fold_scatter(self.kernel)
            self.taps = _bilinear_taps() if self.upsample else None

    def build(self, shape):
        # The folded forms read the kernel before (or without) calling the convolution.
        self.conv.build((None, None, None, shape[-1]))
        if self.inorm is not None:
            self.inorm.build((None, None, None, self.filters))

    def call(self, x):
        if self.fold:
            x = self._upsampled_conv_folded(x) if self.upsample else self._conv_folded(x)
        else:
            x = self._conv(x)
        if self.inorm is not None:
            x = self.inorm(x)
        return ops.relu(x) if self.relu else x

    def _conv(self, x):
        if self.up is not None:
            x = self.up(x)
        if self.blur is not None:
            return self._blurred_conv(x)
        return self.conv(self.pad(x))

    def _blurred_conv(self, x):
        """The blur and the strided convolution as one convolution, 2 taps wider: the blur is
        symmetric, so mirroring its input one pixel further mirrors its output (the same numbers to
        the border), and no blurred full-size copy of the input is written."""
        kernel, bias = self.conv.kernel, self.conv.bias
        k = ops.einsum("uvyx,yxcd->uvcd", ops.cast(self.blur, kernel.dtype), kernel)
        p = self.kernel // 2 + 1
        x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
        return ops.conv(x, ops.cast(k, x.dtype), strides=self.stride, padding="valid") + ops.cast(bias, x.dtype)

    def _conv_folded(self, x):
        kernel, bias = self.conv.kernel, self.conv.bias
        m = 2 * (self.scatter.shape[0] // 2)  # mirror at full resolution, as self.pad would
        x = self.folder(ops.pad(x, [[0, 0], [m, m], [m, m], [0, 0]], mode="reflect"))
        return self.unfolder(_folded_conv(x, kernel, bias, self.scatter))

    def _upsampled_conv_folded(self, x):
        """Up-sampling and the convolution as one 3x3 convolution of the half-resolution ``x`` into
        the four sub-pixels' channels (as RenderStage does), then the outer ring of pixels from the
        plain path: there the folded form repeats the edge where the plain one mirrors it."""
        kernel, bias = self.conv.kernel, self.conv.bias
        u = ops.cast(self.taps, kernel.dtype)
        k = ops.reshape(ops.einsum("ayt,bxs,yxcf->tscabf", u, u, kernel), (3, 3, kernel.shape[2], 4 * self.filters))
        y = ops.conv(ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric"), ops.cast(k, x.dtype))
        y = self.unfolder(y + ops.cast(ops.tile(bias, [4]), x.dtype))
        top, bottom = self._conv(x[:, :2])[:, :1], self._conv(x[:, -2:])[:, -1:]
        y = ops.concatenate([top, y[:, 1:-1], bottom], axis=1)
        left, right = self._conv(x[:, :, :2])[:, :, :1], self._conv(x[:, :, -2:])[:, :, -1:]
        return ops.concatenate([left, y[:, :, 1:-1], right], axis=2)

    def compute_output_shape(self, shape):
        def side(d):
            if d is None:
                return None
            return (d * (2 if self.upsample else 1) - 1) // self.stride + 1

        return (shape[0], side(shape[1]), side(shape[2]), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel": self.kernel,
            "stride": self.stride,
            "upsample": self.upsample,
            "norm": self.norm,
            "relu": self.relu,
            "fold": self.fold,
        }


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
        return (
            shape[0],
            None if shape[1] is None else shape[1] // f,
            None if shape[2] is None else shape[2] // f,
            shape[3] * f * f,
        )

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
        return (
            shape[0],
            None if shape[1] is None else shape[1] * f,
            None if shape[2] is None else shape[2] * f,
            shape[3] // (f * f),
        )


@keras.saving.register_keras_serializable(package=PACKAGE)
class Bilinear2x(layers.Layer):
    """Bilinear x2 upsampling (half-pixel centres, edges clamped), from shifts and averages only,
    so it works for any H x W, known or not at trace time (UpSampling2D needs static sizes)."""

    def call(self, x):
        x = ops.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]], mode="symmetric")  # edge rows repeated
        x = self._interleave(0.75 * x[:, 1:-1] + 0.25 * x[:, :-2], 0.75 * x[:, 1:-1] + 0.25 * x[:, 2:], axis=1)
        x = ops.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]], mode="symmetric")
        return self._interleave(
            0.75 * x[:, :, 1:-1] + 0.25 * x[:, :, :-2], 0.75 * x[:, :, 1:-1] + 0.25 * x[:, :, 2:], axis=2
        )

    @staticmethod
    def _interleave(even, odd, axis):
        both = ops.stack([even, odd], axis=axis + 1)
        shape = ops.shape(even)
        new = [shape[0], shape[1], shape[2], shape[3]]
        new[axis] = new[axis] * 2
        return ops.reshape(both, new)

    def compute_output_shape(self, shape):
        return (shape[0], _side(shape[1], 2), _side(shape[2], 2), shape[3])


def _separable_filter(x, taps, pad: int, stride: int = 1):
    """``x`` filtered along H, then W, by the fixed ``taps`` after mirroring ``pad`` pixels on each
    side, keeping every ``stride``-th output: shifted (strided) slices and adds."""
    for axis in (1, 2):
        widths = [[0, 0]] * 4
        widths[axis] = [pad, pad]
        x = ops.pad(x, widths, mode="reflect")
        n = (ops.shape(x)[axis] - len(taps)) // stride + 1
        x = sum(
            float(t) * (x[:, k : k + stride * n : stride] if axis == 1 else x[:, :, k : k + stride * n : stride])
            for k, t in enumerate(taps)
        )
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
        # Shifted slices and adds, one axis at a time: XLA fuses them, a depthwise convolution ran slower.
        f = self.factor
        return _separable_filter(x, np.convolve(np.ones(f), np.ones(f)) / f**2, pad=f - 1)

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
        return (shape[0], _side(shape[1], 0.5), _side(shape[2], 0.5), shape[3])


def _blur_scatter(kernel: int) -> np.ndarray:
    """B[u, v, y, x]: the weight of tap (y, x) of a ``kernel`` x ``kernel`` convolution in tap
    (u, v) of the same convolution of the binomial 1-2-1 (GridFilter(2)) blurred input."""
    blur = np.outer([1, 2, 1], [1, 2, 1]).astype("float32") / 16
    b = np.zeros((kernel + 2, kernel + 2, kernel, kernel), "float32")
    for y in range(kernel):
        for x in range(kernel):
            b[y : y + 3, x : x + 3, y, x] = blur
    return b


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
        self.out_kernel = self.add_weight(
            (self.KERNEL, self.KERNEL, f, 3), initializer="glorot_uniform", name="out_kernel"
        )
        self.out_bias = self.add_weight((3,), initializer="zeros", name="out_bias")

    def call(self, x, frame):
        kernel = self.hidden_kernel
        u = ops.cast(self.taps, kernel.dtype)
        k = ops.reshape(ops.einsum("ayt,bxs,yxcf->tscabf", u, u, kernel), (3, 3, kernel.shape[2], 4 * self.filters))
        x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")  # Bilinear2x repeats the edge
        frame = self.fold(ops.pad(frame, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="reflect"))
        h = ops.relu(
            ops.conv(x, ops.cast(k, x.dtype), padding="valid")
            + _folded_conv(frame, self.frame_kernel, self.hidden_bias, self.frame_scatter)
        )
        # Mirror at full resolution (mirroring the folded grid would put 2x2 blocks out of order).
        m = self.scatter.shape[0] - 1
        h = self.fold(ops.pad(self.unfold(h), [[0, 0], [m, m], [m, m], [0, 0]], mode="reflect"))
        return self.unfold(_folded_conv(h, self.out_kernel, self.out_bias, self.scatter))

    def compute_output_shape(self, x_shape, frame_shape=None):
        return (x_shape[0], _side(x_shape[1], 2), _side(x_shape[2], 2), 3)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}
