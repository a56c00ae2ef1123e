import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from stylecam.flops import count_flops
from stylecam.layers import InstanceNorm, PixelShuffle, PixelUnshuffle
from stylecam.modelfile import ModelFileError, load_model, save_model
from stylecam.network import FastNet, FullNet, StyleNet, build_network
from stylecam.stylizer import Stylizer

LEGACY = Path(__file__).parent / "data" / "legacy-starry-night.fast.keras"
BUNDLED = Path(__file__).parents[1] / "stylecam" / "models"


def trained_like(net):
    """Random biases and norm offsets (they start at 0), as a trained network has."""
    for v in net.weights:
        if v.path.endswith(("bias", "beta")):
            v.assign(np.random.default_rng(1).normal(0, 0.5, v.shape))


def textured(h, w, sigma):
    """A (1, h, w, 3) frame of blurred, contrast-stretched noise: detail at every position."""
    import cv2

    x = cv2.GaussianBlur(np.random.default_rng(0).uniform(0, 255, (h, w, 3)).astype("float32"), (0, 0), sigma)[None]
    return (x - x.mean()) * 4 + 128


@pytest.fixture(scope="module")
def net():
    return build_network(width=4, residual_blocks=1)


@pytest.mark.parametrize("h,w", [(8, 8), (17, 23), (31, 64), (45, 33)])
def test_output_keeps_any_size(net, h, w):
    y = net(np.random.default_rng(0).uniform(0, 255, (2, h, w, 3)).astype("float32"))
    assert tuple(y.shape) == (2, h, w, 3)


@pytest.mark.parametrize("h,w", [(8, 8), (17, 23), (45, 33)])
def test_fast_design_keeps_any_size_too(h, w):
    y = build_network("fast")(np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype("float32"))
    assert tuple(y.shape) == (1, h, w, 3)


def test_pixel_shuffle_undoes_unshuffle_and_keeps_blocks_together():
    x = np.arange(2 * 8 * 12 * 3, dtype="float32").reshape(2, 8, 12, 3)
    folded = keras.ops.convert_to_numpy(PixelUnshuffle(4)(x))
    assert folded.shape == (2, 2, 3, 48)
    np.testing.assert_array_equal(folded[0, 1, 2].reshape(4, 4, 3), x[0, 4:8, 8:12])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(PixelShuffle(4)(folded)), x)


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_instance_norm_matches_the_textbook_formula_when_the_mean_dwarfs_the_spread(dtype):
    # The one-pass variance (mean square minus squared mean) cancels when a channel's mean is
    # far above its spread; activations stay within this ratio, so it must stay exact there.
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 48, 64, 8)) * 0.5 + rng.uniform(-20, 20, (1, 1, 1, 8))).astype("float32")
    norm = InstanceNorm(dtype=dtype)
    norm.build(x.shape)
    norm.gamma.assign(rng.uniform(0.5, 2.0, 8))
    norm.beta.assign(rng.normal(0.0, 1.0, 8))
    y = keras.ops.convert_to_numpy(keras.ops.cast(norm(x), "float32"))
    # the layer sees its input in its compute dtype, so the reference starts from the same numbers
    x = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(x, norm.compute_dtype), "float32")).astype("float64")
    mean, std = x.mean(axis=(1, 2), keepdims=True), x.std(axis=(1, 2), keepdims=True)
    exact = (x - mean) / np.sqrt(std**2 + 1e-5) * norm.gamma.numpy() + norm.beta.numpy()
    # float32: far below one grey level of the output; bfloat16: within its own rounding of y
    assert np.abs(y - exact).max() < (5e-3 if dtype == "float32" else 0.05)


def test_fast_design_costs_under_three_percent_of_the_full_one():
    fast, full = (count_flops(build_network(n), 360, 640).total for n in ("fast", "full"))
    assert fast < 0.03 * full


def test_fast_design_round_trips_through_a_model_file(tmp_path):
    net = build_network("fast")
    loaded = load_model(save_model(net, tmp_path / "f.keras"))
    assert isinstance(loaded, FastNet) and loaded.design == {"design": "fast", "width": 16, "residual_blocks": 3}
    x = np.random.default_rng(3).uniform(0, 255, (1, 19, 21, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(net(x)), keras.ops.convert_to_numpy(loaded(x)))


def test_full_network_matches_johnson_parameter_count():
    # 9x9 conv 32, two stride-2 convs, five residual blocks of 128, two upsample convs, 9x9 to 3.
    assert build_network().count_params() == 1_679_235


def test_stylizer_takes_and_returns_uint8_of_any_size(net):
    frame = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = Stylizer(net).stylize(frame)
    assert out.dtype == np.uint8 and out.shape == frame.shape


def test_round_trip_is_identical_and_loads_in_safe_mode(net, tmp_path):
    path = save_model(net, tmp_path / "m.keras", {"name": "tiny", "steps": 3})
    loaded = load_model(path)
    assert isinstance(loaded, FullNet)
    assert loaded.metadata["name"] == "tiny" and loaded.metadata["steps"] == 3
    x = np.random.default_rng(2).uniform(0, 255, (1, 21, 19, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(net(x)), keras.ops.convert_to_numpy(loaded(x)))
    keras.saving.load_model(path, safe_mode=True)  # no Lambda layers, everything registered


def test_save_leaves_no_temporary_files(net, tmp_path):
    save_model(net, tmp_path / "m.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_truncated_model_file_is_a_clear_error(net, tmp_path):
    path = save_model(net, tmp_path / "m.keras")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a stylecam model|corrupt"):
        load_model(path)


def test_garbage_and_foreign_files_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"hello")
    with pytest.raises(ModelFileError, match="not a stylecam model file"):
        load_model(junk)
    foreign = tmp_path / "foreign.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(foreign)
    with pytest.raises(ModelFileError, match="not a stylecam style network"):
        load_model(foreign)
    bad_zip = tmp_path / "zip.keras"
    with zipfile.ZipFile(bad_zip, "w") as z:
        z.writestr("config.json", "{not json")
    with pytest.raises(ModelFileError, match="corrupt"):
        load_model(bad_zip)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.keras")


def test_the_input_low_pass_removes_what_half_resolution_cannot_hold_and_keeps_the_picture():
    from stylecam.layers import Downsample2x

    cols = np.arange(256, dtype="float32")

    def wave(cycles_per_px):
        return np.broadcast_to(
            np.sin(2 * np.pi * cycles_per_px * cols + 0.3)[None, None, :, None],
            (1, 32, 256, 3),
        ).astype("float32")

    amplitude = lambda y: np.ptp(keras.ops.convert_to_numpy(y)[0, 4:-4, 8:-8, 0])  # noqa: E731
    # Above half resolution's Nyquist frequency (0.25 cycles/px) every second pixel alone aliases
    # it into a full-strength slower wave; low-passed first, almost nothing is left of it.
    for fast in (0.3, 0.35, 0.4, 0.45):
        assert amplitude(wave(fast)[:, :, ::2]) > 1.0
        assert amplitude(Downsample2x()(wave(fast))) < 0.1
    assert amplitude(Downsample2x()(wave(0.03))) > 1.6  # a slow wave (peak to peak 2) passes
    x = np.random.default_rng(3).uniform(0, 255, (1, 24, 40, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(Downsample2x()(x))
    assert y.shape == (1, 12, 20, 3)
    taps = Downsample2x.TAPS  # centred between pixels 2i and 2i + 1: row 2i - 3 .. 2i + 4
    expected = sum(t1 * t2 * x[0, 8 + a - 3, 12 + b - 3] for a, t1 in enumerate(taps) for b, t2 in enumerate(taps))
    np.testing.assert_allclose(y[0, 4, 6], expected, rtol=1e-5)
    flat = keras.ops.convert_to_numpy(Downsample2x()(np.full((1, 16, 16, 3), 77.0, "float32")))
    np.testing.assert_allclose(flat, 77.0, rtol=1e-6)


def test_render_stage_on_folded_pixels_is_bilinear_upsampling_and_full_resolution_convolutions():
    from stylecam.layers import Bilinear2x, RenderStage

    rng = np.random.default_rng(10)
    x, frame = rng.normal(size=(2, 11, 14, 5)).astype("float32"), rng.normal(size=(2, 22, 28, 3)).astype("float32")
    stage = RenderStage(6)
    stage(x, frame)
    for v in stage.weights:
        v.assign(rng.normal(0, 0.5, v.shape))
    hk, fk, hb, ok, ob = (keras.ops.convert_to_numpy(v) for v in stage.weights)
    assert fk.shape == (3, 3, 3, 6)
    conv = lambda t, k: keras.ops.convert_to_numpy(keras.ops.conv(t, k, padding="same"))  # noqa: E731
    hidden = np.maximum(conv(keras.ops.convert_to_numpy(Bilinear2x()(x)), hk) + conv(frame, fk) + hb, 0)
    expected = conv(hidden, ok) + ob
    got = keras.ops.convert_to_numpy(stage(x, frame))
    assert got.shape == (2, 22, 28, 3)
    np.testing.assert_allclose(got[:, 3:-3, 3:-3], expected[:, 3:-3, 3:-3], atol=1e-4)


@pytest.mark.parametrize("kwargs", [dict(kernel=9, norm=False, relu=False), dict(kernel=3, upsample=True)])
@pytest.mark.parametrize("h,w", [(3, 3), (5, 7), (12, 9)])
def test_a_folded_conv_block_computes_the_plain_one_to_the_border(kwargs, h, w):
    from stylecam.layers import ConvBlock

    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 2 * h, 2 * w, 6)).astype("float32")
    x = x[:, :h, :w] if kwargs.get("upsample") else x
    plain, folded = ConvBlock(5, **kwargs), ConvBlock(5, fold=True, **kwargs)
    plain(x), folded(x)
    for a, b in zip(plain.weights, folded.weights, strict=True):
        value = rng.normal(0, 0.5, a.shape)
        a.assign(value), b.assign(value)
    want, got = (keras.ops.convert_to_numpy(block(x)) for block in (plain, folded))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("h,w", [(4, 4), (7, 10), (13, 8)])
def test_a_strided_conv_block_is_the_blur_then_the_convolution_to_the_border(h, w):
    from stylecam.layers import ConvBlock, GridFilter, ReflectionPad2D

    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, h, w, 5)).astype("float32")
    block = ConvBlock(6, 3, stride=2, norm=False, relu=False)
    block(x)
    for v in block.weights:
        v.assign(rng.normal(0, 0.5, v.shape))
    blurred = keras.ops.convert_to_numpy(ReflectionPad2D(1)(GridFilter(2)(x)))
    want = keras.ops.convert_to_numpy(keras.ops.conv(blurred, block.conv.kernel, strides=2))
    want = want + keras.ops.convert_to_numpy(block.conv.bias)
    got = keras.ops.convert_to_numpy(block(x))
    assert got.shape == want.shape == (2, (h - 1) // 2 + 1, (w - 1) // 2 + 1, 6)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_the_fast_design_draws_no_grid_on_a_flat_frame_and_counts_its_render_stage():
    # A flat frame makes every feature flat: any pattern would come from the sub-pixel unfolding.
    keras.utils.set_random_seed(0)
    net = build_network("fast")
    trained_like(net)
    y = keras.ops.convert_to_numpy(net(np.full((1, 64, 96, 3), 128.0, "float32")))[0, 8:-8, 8:-8]
    assert np.ptp(y, axis=(0, 1)).max() < 1e-2
    names = [c.name for c in count_flops(net, 360, 640).convs]
    assert {"render.hidden", "render.frame", "render.out"} <= set(names) and "conv1.conv" in names


def test_files_of_the_earlier_transform_net_format_load_with_the_same_output():
    # The bundled Starry Night fast network, once as a TransformNet file, once re-saved as FastNet.
    legacy, bundled = load_model(LEGACY), load_model(BUNDLED / "starry-night.fast.keras")
    assert isinstance(legacy, FastNet) and legacy.metadata["name"] == "starry-night"
    x = textured(37, 53, sigma=2).clip(0, 255).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(legacy(x)), keras.ops.convert_to_numpy(bundled(x)))


def test_transform_net_files_of_an_experimental_design_are_a_clear_error(tmp_path):
    import json

    odd = tmp_path / "odd.keras"
    with zipfile.ZipFile(LEGACY) as src, zipfile.ZipFile(odd, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["detail"] = 4
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    with pytest.raises(ModelFileError, match="experimental network design"):
        load_model(odd)


def test_every_network_is_a_style_net():
    assert all(isinstance(build_network(d, width=4, residual_blocks=1), StyleNet) for d in ("full", "fast"))
    with pytest.raises(ValueError, match="full or fast"):
        build_network("medium")


def test_fast_design_compiles_for_changing_frame_sizes():
    # The compiled function relaxes to unknown H and W after a few sizes: every layer must cope.
    stylizer = Stylizer(build_network("fast"))
    for h, w in [(48, 64), (37, 53), (120, 90), (61, 33)]:
        assert stylizer.stylize(np.zeros((h, w, 3), np.uint8)).shape == (h, w, 3)
