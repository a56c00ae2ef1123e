"""Johnson et al. (2016) image transformation network, written with keras.ops only.

The same layers run under TensorFlow (default) and JAX. Frames go in as float RGB
in [0, 255] and come out in the same range (unclipped; the stylizer clips).
"""
from __future__ import annotations

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)

import keras
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
    """[nearest upsample] -> reflection pad -> conv -> [instance norm] -> [relu]."""

    def __init__(self, filters, kernel, stride=1, upsample=1, norm=True, relu=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel, self.stride = filters, kernel, stride
        self.upsample, self.norm, self.relu = upsample, norm, relu
        # Sub-layers take this layer's dtype policy (Keras does not pass it down).
        dt = self.dtype_policy
        self.up = layers.UpSampling2D(upsample, interpolation="nearest", dtype=dt) if upsample > 1 else None
        self.padding = ReflectionPad2D(kernel // 2, dtype=dt)
        self.conv = layers.Conv2D(filters, kernel, strides=stride, padding="valid", name="conv", dtype=dt)
        self.inorm = _norm("inorm", dt) if norm else None

    def call(self, x):
        if self.up is not None:
            x = self.up(x)
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
                "relu": self.relu}


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
class TransformNet(keras.Model):
    """Image transformation network.

    ``width`` is the channel count of the first stage (32 in the paper); the down-sampled
    stages use 2x and 4x that. Input H and W may be anything >= 8; they are padded by
    reflection to a multiple of 4 and the output is cropped back to exactly H x W.
    ``metadata`` is a JSON-able dict carried in the model file (see stylecam.modelfile).
    """

    def __init__(self, width=32, residual_blocks=5, metadata=None, **kwargs):
        super().__init__(**kwargs)
        self.width, self.residual_blocks = int(width), int(residual_blocks)
        self.metadata = dict(metadata or {})
        w, dt = self.width, self.dtype_policy
        self.blocks = [
            ConvBlock(w, 9, name="in_conv", dtype=dt),
            ConvBlock(2 * w, 3, stride=2, name="down1", dtype=dt),
            ConvBlock(4 * w, 3, stride=2, name="down2", dtype=dt),
            *[ResidualBlock(4 * w, name=f"res{i + 1}", dtype=dt) for i in range(self.residual_blocks)],
            ConvBlock(2 * w, 3, upsample=2, name="up1", dtype=dt),
            ConvBlock(w, 3, upsample=2, name="up2", dtype=dt),
            ConvBlock(3, 9, norm=False, relu=False, name="out_conv", dtype=dt),
        ]

    def call(self, x):
        h, w = ops.shape(x)[1], ops.shape(x)[2]
        pad_h, pad_w = (-h) % 4, (-w) % 4
        x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="reflect")
        # Centre the input range; the network learns in roughly [-1, 1].
        y = x / 127.5 - 1.0
        for block in self.blocks:
            y = block(y)
        y = (y + 1.0) * 127.5
        return ops.cast(y[:, :h, :w, :], "float32")

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], shape[2], 3)

    def get_config(self):
        return {**super().get_config(), "width": self.width,
                "residual_blocks": self.residual_blocks, "metadata": self.metadata}


def build_transform_net(width=32, residual_blocks=5, metadata=None, dtype=None) -> TransformNet:
    """A built (weights created) transformation network."""
    net = TransformNet(width, residual_blocks, metadata=metadata, dtype=dtype)
    net(ops.zeros((1, 16, 16, 3)))
    return net
