"""Count a transformation network's floating-point operations per frame, from its layers.

What is counted: every convolution, as ``2 * kH * kW * Cin * Cout * Hout * Wout`` (one
multiply and one add per weight per output pixel), at the size the network really computes:
the frame padded by reflection to ``net.multiple`` (``StyleNet.call``), each convolution's
input padded by its ``ReflectionPad2D`` and, in the up-sampling blocks, enlarged by the
up-sampling first (also where a ConvBlock computes it on folded pixels: the same convolution,
its structural zeros not counted); pixel (un)shuffles only move values. The RenderStage's convolutions count as
it runs them: on 2x2-folded pixels with 4x the channels (4x the multiply-adds of the same
convolutions at full resolution, many of them by structural zeros).
Not counted (all element-wise, a small share of the total): biases, instance
normalisation, ReLU, the residual additions, padding, up-sampling, the fixed filters (GridFilter,
the input's Downsample2x, the antialiased body's blur and bilinear up-sampling), and the
uint8 <-> float conversions. The convolutions are the figure that compares with a
matrix multiply's peak, so they are the one this module reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .layers import ConvBlock, Downsample2x, GridFilter, PixelShuffle, PixelUnshuffle, RenderStage, ResidualBlock

COUNTED = (
    "convolutions only: 2*kH*kW*Cin*Cout*Hout*Wout per frame at the padded size "
    "(frame padded to the network's multiple; reflection padding, up-sampling); "
    "biases, normalisation, activations, residual adds, padding, resizing and fixed filters not counted"
)


@dataclass
class ConvCount:
    name: str
    kernel: tuple[int, int]
    cin: int
    cout: int
    stride: int
    out_hw: tuple[int, int]
    flops: int


@dataclass
class FlopCount:
    height: int
    width: int
    convs: list[ConvCount] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.flops for c in self.convs)

    @property
    def gflop(self) -> float:
        return self.total / 1e9


def _conv_out(side: int, kernel: int, stride: int) -> int:
    return (side - kernel) // stride + 1


def _conv(conv, name: str, h: int, w: int, cin: int) -> tuple[ConvCount, int, int]:
    """A Keras Conv2D ("valid" padding, as the network uses) on an (h, w, cin) input."""
    kh, kw, kin, cout = (int(d) for d in conv.kernel.shape)
    if kin != cin:
        raise ValueError(f"{name}: kernel expects {kin} input channels, got {cin}")
    if getattr(conv, "padding", "valid") != "valid":
        raise ValueError(f"{name}: only 'valid' convolutions are counted (the network pads itself)")
    sh, sw = (int(s) for s in conv.strides)
    ho, wo = _conv_out(h, kh, sh), _conv_out(w, kw, sw)
    return ConvCount(name, (kh, kw), cin, cout, sh, (ho, wo), 2 * kh * kw * cin * cout * ho * wo), ho, wo


def _conv_block(block, name: str, h: int, w: int, c: int, out: list) -> tuple[int, int, int]:
    """ConvBlock: [upsample] -> [blur] -> reflection pad -> conv -> [norm] -> [relu]."""
    if block.up is not None:
        h, w = 2 * h, 2 * w
    pad = block.pad.pad
    count, h, w = _conv(block.conv, f"{name}.conv", h + 2 * pad, w + 2 * pad, c)
    out.append(count)
    return h, w, count.cout


def count_flops(net, height: int, width: int) -> FlopCount:
    """FLOPs of one ``height`` x ``width`` frame through a built FullNet or FastNet."""

    result = FlopCount(height, width)
    h, w, c = net.padded_side(height), net.padded_side(width), 3
    for block, _ in net.stages():
        if isinstance(block, GridFilter):
            pass
        elif isinstance(block, Downsample2x):
            h, w = h // 2, w // 2
        elif isinstance(block, PixelShuffle):
            f = block.factor
            h, w, c = h * f, w * f, c // (f * f)
        elif isinstance(block, PixelUnshuffle):
            f = block.factor
            h, w, c = h // f, w // f, c * f * f
        elif isinstance(block, ResidualBlock):
            h1, w1, c1 = _conv_block(block.first, f"{block.name}.first", h, w, c, result.convs)
            h2, w2, c2 = _conv_block(block.second, f"{block.name}.second", h1, w1, c1, result.convs)
            if (h2, w2, c2) != (h, w, c):
                raise ValueError(f"{block.name}: residual branch changes the shape")
        elif isinstance(block, ConvBlock):
            h, w, c = _conv_block(block, block.name, h, w, c, result.convs)
        elif isinstance(block, RenderStage):  # three convolutions on the 2x2-folded grid (4x the channels)
            f, taps = block.filters, block.scatter.shape[0]
            result.convs.append(
                ConvCount(f"{block.name}.hidden", (3, 3), c, 4 * f, 1, (h, w), 2 * 9 * c * 4 * f * h * w)
            )
            result.convs.append(
                ConvCount(f"{block.name}.frame", (3, 3), 12, 4 * f, 1, (h, w), 2 * 9 * 12 * 4 * f * h * w)
            )
            result.convs.append(
                ConvCount(f"{block.name}.out", (taps, taps), 4 * f, 12, 1, (h, w), 2 * taps * taps * 4 * f * 12 * h * w)
            )
            h, w, c = 2 * h, 2 * w, 3
        else:
            raise ValueError(f"cannot count the FLOPs of a {type(block).__name__} layer")
    return result
