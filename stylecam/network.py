"""stylecam's two image transformation networks: ``FullNet`` and ``FastNet``.

Frames go in as float RGB in [0, 255] of any size and come out in the same range and size
(unclipped; the stylizer clips). Why each network looks as it does: docs/design.md.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np
from keras import ops

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)
from .layers import (
    PACKAGE,
    ConvBlock,
    Downsample2x,
    GridFilter,
    InstanceNorm,
    PixelShuffle,
    PixelUnshuffle,
    RenderStage,
    ResidualBlock,
)


def _mirror_to(x, size, axis: int):
    """``x`` extended along ``axis`` (1 or 2) to ``size`` by mirroring its end, edge pixel
    included (numpy's "symmetric" padding), as slices: ONNX has no symmetric pad of its own."""
    n = size - ops.shape(x)[axis]
    end = x[:, ops.shape(x)[1] - n :] if axis == 1 else x[:, :, ops.shape(x)[2] - n :]
    return ops.concatenate([x, ops.flip(end, axis=axis)], axis=axis)


class StyleNet(keras.Model):
    """What both networks share: any frame size in, the same size out.

    Subclasses set ``multiple`` (the frame's sides are mirrored up to a multiple of it) and
    write ``transform``, the network itself, on frames normalised to [-1, 1]."""

    multiple = 4
    design_name = ""
    max_pixels = 1920 * 1080  # the most pixels one call takes (stylecam.stylize): bounded memory

    def __init__(self, width: int, residual_blocks: int, metadata: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.width, self.residual_blocks = int(width), int(residual_blocks)
        self.metadata = dict(metadata or {})

    def call(self, x):
        h, w = ops.shape(x)[1], ops.shape(x)[2]
        x = _mirror_to(_mirror_to(x, self.padded_side(h), axis=1), self.padded_side(w), axis=2)
        y = self.transform(x / 127.5 - 1.0)
        y = (y + 1.0) * 127.5
        return ops.cast(y[:, :h, :w, :], "float32")

    def padded_side(self, side):
        """The side the network computes at: a multiple of ``multiple``, at least two of them, so
        the lowest resolution is >= 2x2 (its 3x3 convolutions pad by reflection)."""
        m = self.multiple
        padded = (side + m - 1) // m * m  # no modulo of a negative number: ONNX's Mod differs
        return max(padded, 2 * m) if isinstance(side, int) else ops.maximum(padded, 2 * m)

    def transform(self, x):
        raise NotImplementedError

    def stages(self) -> list:
        """``(layer, fn(y, frame))`` for each step of ``transform`` in order, for the profiler."""
        raise NotImplementedError

    def style_layers(self) -> list:
        """The layers that hold a style's own parameters on a shared body: every instance
        normalisation's scale and shift (Dumoulin, Shlens and Kudlur 2017), then ``head()``."""
        head = self.head()
        in_head = {id(sub) for layer in head for sub in layer._flatten_layers()}  # listed once, in head
        norms = [x for x in self._flatten_layers() if isinstance(x, InstanceNorm) and id(x) not in in_head]
        return norms + head

    def head(self) -> list:
        """Layers after the body that are also a style's own (none by default)."""
        return []

    def body_weights(self) -> list:
        """The shared body: every weight that is not a style parameter."""
        own = {id(v) for layer in self.style_layers() for v in layer.weights}
        return [v for v in self.weights if id(v) not in own]

    def body_sha256(self) -> str:
        """A fingerprint of the shared body: styles with the same one can be blended."""
        digest = hashlib.sha256()
        for v in self.body_weights():
            digest.update(np.asarray(keras.ops.convert_to_numpy(v), "float32").tobytes())
        return digest.hexdigest()

    @property
    def design(self) -> dict:
        return {"design": self.design_name, "width": self.width, "residual_blocks": self.residual_blocks}

    def compute_output_shape(self, shape):
        return (shape[0], shape[1], shape[2], 3)

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "residual_blocks": self.residual_blocks,
            "metadata": self.metadata,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class FullNet(StyleNet):
    """Johnson, Alahi and Fei-Fei (2016), with resampling that does not alias (ConvBlock)."""

    multiple = 4
    design_name = "full"
    max_pixels = 1280 * 720  # 32 channels at full resolution

    def __init__(self, width=32, residual_blocks=5, metadata=None, **kwargs):
        super().__init__(width, residual_blocks, metadata, **kwargs)
        w, dt = self.width, self.dtype_policy
        self.conv1 = ConvBlock(w, 9, name="conv1", dtype=dt)
        self.conv2 = ConvBlock(2 * w, 3, stride=2, name="conv2", dtype=dt)
        self.conv3 = ConvBlock(4 * w, 3, stride=2, name="conv3", dtype=dt)
        self.res = [ResidualBlock(4 * w, name=f"res{i + 1}", dtype=dt) for i in range(self.residual_blocks)]
        # fold: the same convolutions computed on 2x2-folded pixels (faster; docs/design.md).
        self.deconv1 = ConvBlock(2 * w, 3, upsample=True, fold=True, name="deconv1", dtype=dt)
        self.deconv2 = ConvBlock(w, 3, upsample=True, fold=True, name="deconv2", dtype=dt)
        self.deconv3 = ConvBlock(3, 9, norm=False, relu=False, fold=True, name="deconv3", dtype=dt)

    def transform(self, x):
        y = self.conv1(x)
        y = self.conv2(y)
        y = self.conv3(y)
        for block in self.res:
            y = block(y)
        y = self.deconv1(y)
        y = self.deconv2(y)
        return self.deconv3(y)

    def head(self):
        # The strokes are drawn after the body: scales and shifts alone keep the body's painting.
        return [self.res[-1], self.deconv1, self.deconv2, self.deconv3]

    def stages(self):
        order = [self.conv1, self.conv2, self.conv3, *self.res, self.deconv1, self.deconv2, self.deconv3]
        return [(layer, lambda y, frame, layer=layer: layer(y)) for layer in order]


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastNet(StyleNet):
    """The live-preview network for CPUs: its body runs at 1/4 and 1/8 of the resolution and a
    RenderStage draws the picture at full resolution (docs/design.md, "The fast network")."""

    multiple = 8
    design_name = "fast"
    RENDER_CHANNELS = 8

    def __init__(self, width=16, residual_blocks=3, metadata=None, **kwargs):
        super().__init__(width, residual_blocks, metadata, **kwargs)
        w, r, dt = self.width, self.RENDER_CHANNELS, self.dtype_policy
        self.downsample = Downsample2x(name="downsample", dtype=dt)
        self.fold = PixelUnshuffle(2, name="fold", dtype=dt)
        self.conv1 = ConvBlock(w, 3, name="conv1", dtype=dt)
        self.conv2 = ConvBlock(2 * w, 3, stride=2, name="conv2", dtype=dt)
        self.res = [ResidualBlock(2 * w, name=f"res{i + 1}", dtype=dt) for i in range(self.residual_blocks)]
        self.deconv1 = ConvBlock(w, 3, upsample=True, name="deconv1", dtype=dt)
        self.features = ConvBlock(4 * r, 3, norm=False, relu=False, name="features", dtype=dt)
        self.unfold = PixelShuffle(2, name="unfold", dtype=dt)
        self.grid_filter = GridFilter(2, name="grid_filter", dtype=dt)
        self.render = RenderStage(r, name="render", dtype=dt)

    def transform(self, x):
        y = self.downsample(x)  # half resolution, low-passed: no aliasing for the body to lock onto
        y = self.fold(y)  # 2x2 pixels -> channels: the body runs at 1/4
        y = self.conv1(y)
        y = self.conv2(y)
        for block in self.res:
            y = block(y)
        y = self.deconv1(y)
        y = self.features(y)
        y = self.unfold(y)  # render features at 1/2
        y = self.grid_filter(y)  # remove the sub-pixel grid the unfolding learns
        return self.render(y, x)

    def head(self):
        # The render stage draws the colours at full resolution, after the last normalisation: the
        # scales and shifts alone cannot repaint what it learned for the body's style.
        return [self.features, self.render]

    def stages(self):
        order = [
            self.downsample,
            self.fold,
            self.conv1,
            self.conv2,
            *self.res,
            self.deconv1,
            self.features,
            self.unfold,
            self.grid_filter,
        ]
        return [(layer, lambda y, frame, layer=layer: layer(y)) for layer in order] + [
            (self.render, lambda y, frame: self.render(y, frame))
        ]


DESIGNS = {"full": FullNet, "fast": FastNet}


def build_network(design: str = "full", metadata=None, dtype=None, **sizes) -> StyleNet:
    """A built (weights created) network of a design; ``sizes``: width, residual_blocks."""
    if design not in DESIGNS:
        raise ValueError(f"design {design!r}: use {' or '.join(DESIGNS)}")
    net = DESIGNS[design](metadata=metadata, dtype=dtype, **sizes)
    net(ops.zeros((1, 16, 16, 3)))
    return net


def same_network(net: StyleNet, dtype=None) -> StyleNet:
    """A new network of ``net``'s design and weights, computing under the dtype policy ``dtype``."""
    d = net.design
    copy = build_network(d["design"], net.metadata, dtype, width=d["width"], residual_blocks=d["residual_blocks"])
    copy.set_weights(net.get_weights())
    return copy


def blend_networks(nets_and_weights: list) -> StyleNet:
    """One network whose style parameters are the weighted mean of several styles' on one shared
    body (Dumoulin et al. 2017: mixing the normalisation parameters mixes the styles)."""
    first = nets_and_weights[0][0]
    body = first.body_sha256()
    for net, _ in nets_and_weights[1:]:
        if net.design != first.design or net.body_sha256() != body:
            a, b = first.metadata.get("name", "the first style"), net.metadata.get("name", "another style")
            raise ValueError(f"{a} and {b} do not share a body, so they cannot be blended")
    params = [([layer.get_weights() for layer in net.style_layers()], w) for net, w in nets_and_weights]
    blended = same_network(first)
    for i, layer in enumerate(blended.style_layers()):
        layer.set_weights([sum(w * layers[i][k] for layers, w in params) for k in range(len(layer.weights))])
    return blended
