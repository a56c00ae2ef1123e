import zipfile

import keras
import numpy as np
import pytest

from stylecam.modelfile import ModelFileError, load_model, save_model
from stylecam.flops import count_flops
from stylecam.network import DESIGNS, PixelShuffle, PixelUnshuffle, TransformNet, build_design, build_transform_net, \
    parse_design
from stylecam.stylizer import Stylizer


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


def shift_error(net, x, d, margin):
    """Mean squared difference of net(shift(x)) and shift(net(x)), ``margin`` px from the border."""
    moved = keras.ops.convert_to_numpy(net(np.ascontiguousarray(x[:, d:, d:])))[0]
    return np.mean((keras.ops.convert_to_numpy(net(x))[0, d:, d:] - moved)[margin:-margin, margin:-margin] ** 2)


@pytest.fixture(scope="module")
def net():
    return build_transform_net(width=4, residual_blocks=1)


@pytest.mark.parametrize("h,w", [(8, 8), (17, 23), (31, 64), (45, 33)])
def test_output_keeps_any_size(net, h, w):
    y = net(np.random.default_rng(0).uniform(0, 255, (2, h, w, 3)).astype("float32"))
    assert tuple(y.shape) == (2, h, w, 3)


@pytest.mark.parametrize("h,w", [(8, 8), (17, 23), (45, 33)])
@pytest.mark.parametrize("design", ["fast", "fast,detail=0"])
def test_fast_design_keeps_any_size_too(design, h, w):
    y = build_design(design)(np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype("float32"))
    assert tuple(y.shape) == (1, h, w, 3)


def test_pixel_shuffle_undoes_unshuffle_and_keeps_blocks_together():
    x = np.arange(2 * 8 * 12 * 3, dtype="float32").reshape(2, 8, 12, 3)
    folded = keras.ops.convert_to_numpy(PixelUnshuffle(4)(x))
    assert folded.shape == (2, 2, 3, 48)
    np.testing.assert_array_equal(folded[0, 1, 2].reshape(4, 4, 3), x[0, 4:8, 8:12])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(PixelShuffle(4)(folded)), x)


def test_fast_design_costs_under_three_percent_of_the_full_one():
    fast, full = (count_flops(build_design(n), 360, 640).total for n in ("fast", "full"))
    assert fast < 0.03 * full


def test_fast_design_round_trips_through_a_model_file(tmp_path):
    net = build_design("fast")
    loaded = load_model(save_model(net, tmp_path / "f.keras"))
    assert loaded.design == DESIGNS["fast"]
    x = np.random.default_rng(3).uniform(0, 255, (1, 19, 21, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(net(x)), keras.ops.convert_to_numpy(loaded(x)))


def test_full_network_matches_johnson_parameter_count():
    # 9x9 conv 32, two stride-2 convs, five residual blocks of 128, two upsample convs, 9x9 to 3.
    assert build_transform_net().count_params() == 1_679_235


def test_stylizer_takes_and_returns_uint8_of_any_size(net):
    frame = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = Stylizer(net).stylize(frame)
    assert out.dtype == np.uint8 and out.shape == frame.shape


def test_round_trip_is_identical_and_loads_in_safe_mode(net, tmp_path):
    path = save_model(net, tmp_path / "m.keras", {"name": "tiny", "steps": 3})
    loaded = load_model(path)
    assert isinstance(loaded, TransformNet)
    assert loaded.metadata["name"] == "tiny" and loaded.metadata["steps"] == 3
    x = np.random.default_rng(2).uniform(0, 255, (1, 21, 19, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(net(x)),
                                  keras.ops.convert_to_numpy(loaded(x)))
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


def test_subpixel_initialisation_starts_without_a_block_grid():
    net = build_transform_net(**{**DESIGNS["fast"], "smooth": 1, "subpixel": 1, "antialias": 0, "render": 0})  # a plain x4 shuffle
    net.init_subpixel()
    y = keras.ops.convert_to_numpy(net(np.random.default_rng(4).uniform(0, 255, (1, 32, 48, 3)).astype("float32")))
    blocks = y.reshape(1, 8, 4, 12, 4, 3)
    assert np.ptp(blocks, axis=(2, 4)).max() == 0    # each 4x4 block is one colour: nearest upsampling
    assert np.ptp(y) > 0


@pytest.mark.parametrize("subpixel, antialias, grid", [(1, 0, True), (0, 0, False), (1, 1, False)])
def test_only_a_bare_sub_pixel_output_draws_a_pattern_locked_to_the_pixel_grid(subpixel, antialias, grid):
    # A flat grey frame: every feature is flat too, so any pattern in the output comes from the
    # way the network unfolds its low-resolution output. Sub-pixel filters (here untrained,
    # without ICNR) draw a 4-pixel grid; the bilinear head (subpixel=0) cannot, and the grid
    # filter (antialias=1, the fast design's) removes it.
    flat = np.full((1, 64, 96, 3), 128.0, "float32")
    keras.utils.set_random_seed(0)
    net = build_transform_net(**{**DESIGNS["fast"], "subpixel": subpixel, "antialias": antialias})
    trained_like(net)
    y = keras.ops.convert_to_numpy(net(flat))[0, 8:-8, 8:-8]
    assert (np.ptp(y, axis=(0, 1)).max() > 1.0) == grid


@pytest.mark.parametrize("design", ["full", "fast"])
def test_an_antialiased_body_follows_small_shifts_of_the_picture(design):
    # Strided convolutions and nearest up-sampling make the output depend on where the picture
    # falls on the network's stride grid (flicker when the camera moves a pixel, patterns locked
    # to the grid); blurring before the strides and bilinear up-sampling (antialias_body) at
    # least halve that dependence, with the same weights.
    x = textured(96, 128, sigma=2)
    keras.utils.set_random_seed(0)
    plain = build_transform_net(**{**DESIGNS[design], "width": 8, "antialias_body": 0})
    trained_like(plain)
    smooth = build_transform_net(**{**DESIGNS[design], "width": 8, "antialias_body": 1})
    smooth.set_weights(plain.get_weights())
    for d in (1, 2):
        assert shift_error(smooth, x, d, 12) < 0.5 * shift_error(plain, x, d, 12)


def test_the_input_low_pass_removes_what_half_resolution_cannot_hold_and_keeps_the_picture():
    from stylecam.network import Downsample2x
    cols = np.arange(256, dtype="float32")
    wave = lambda cycles_per_px: np.broadcast_to(np.sin(2 * np.pi * cycles_per_px * cols + 0.3)[None, None, :, None],  # noqa: E731
                                                 (1, 32, 256, 3)).astype("float32")
    amplitude = lambda y: np.ptp(keras.ops.convert_to_numpy(y)[0, 4:-4, 8:-8, 0])  # noqa: E731
    # Above half resolution's Nyquist frequency (0.25 cycles/px) every second pixel alone aliases
    # it into a full-strength slower wave; low-passed first, almost nothing is left of it.
    for fast in (0.3, 0.35, 0.4, 0.45):
        assert amplitude(wave(fast)[:, :, ::2]) > 1.0
        assert amplitude(Downsample2x()(wave(fast))) < 0.1
    assert amplitude(Downsample2x()(wave(0.03))) > 1.6   # a slow wave (peak to peak 2) passes
    x = np.random.default_rng(3).uniform(0, 255, (1, 24, 40, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(Downsample2x()(x))
    assert y.shape == (1, 12, 20, 3)
    taps = Downsample2x.TAPS   # centred between pixels 2i and 2i + 1: row 2i - 3 .. 2i + 4
    expected = sum(t1 * t2 * x[0, 8 + a - 3, 12 + b - 3] for a, t1 in enumerate(taps) for b, t2 in enumerate(taps))
    np.testing.assert_allclose(y[0, 4, 6], expected, rtol=1e-5)
    flat = keras.ops.convert_to_numpy(Downsample2x()(np.full((1, 16, 16, 3), 77.0, "float32")))
    np.testing.assert_allclose(flat, 77.0, rtol=1e-6)


def test_a_body_reading_the_low_passed_half_resolution_frame_depends_less_on_the_grid():
    # The same trained-like network, its first convolution reading the 16 folded full-resolution
    # pixels or (weights summed over each 2x2) the 4 low-passed half-resolution ones: a 1 px shift
    # of the picture changes the second one's output far less.
    x = np.clip(textured(128, 160, sigma=1.5), 0, 255)
    keras.utils.set_random_seed(0)
    plain = build_design("fast,antialias_input=0")
    trained_like(plain)
    blurred = build_design("fast")
    blurred(x[:, :16, :16])
    for ours, theirs in zip(blurred.blocks[2:], plain.blocks[1:]):
        weights = theirs.get_weights()
        if ours.name == "in_conv":   # folded channel (a * 4 + b) * 3 + c -> ((a // 2) * 2 + b // 2) * 3 + c
            k = weights[0].reshape(3, 3, 2, 2, 2, 2, 3, -1).sum(axis=(3, 5))
            weights[0] = k.reshape(3, 3, 12, -1)
        ours.set_weights(weights)
    assert shift_error(blurred, x, 1, 16) < 0.5 * shift_error(plain, x, 1, 16)


def test_a_design_name_takes_overrides():
    assert parse_design("fast,detail=8") == {**DESIGNS["fast"], "detail": 8}
    assert parse_design("width=8,detail=0") == {**DESIGNS["full"], "width": 8}
    for bad in ("fast,detail=-1", "fast,colour=2", "fast,detail"):
        with pytest.raises(ValueError, match="key=value"):
            parse_design(bad)


def test_detail_stage_starts_as_the_identity_and_draws_no_grid_on_a_flat_frame():
    keras.utils.set_random_seed(0)
    plain, detailed = build_design("fast,detail=0"), build_design("fast,detail=4")
    for ours, theirs in zip(detailed.blocks, plain.blocks):
        ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(6).uniform(0, 255, (1, 40, 56, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(detailed(x)), keras.ops.convert_to_numpy(plain(x)))
    # Trained-like weights: the stage now changes the output, but a flat frame stays flat.
    for v in detailed.detail_stage.weights:
        v.assign(np.random.default_rng(7).normal(0, 0.5, v.shape))
    assert np.abs(keras.ops.convert_to_numpy(detailed(x) - plain(x))).max() > 1.0
    y = keras.ops.convert_to_numpy(detailed(np.full((1, 64, 96, 3), 128.0, "float32")))[0, 8:-8, 8:-8]
    assert np.ptp(y, axis=(0, 1)).max() < 1e-2


def test_detail_stage_on_folded_pixels_is_the_full_resolution_convolutions():
    from stylecam.network import DetailStage
    rng = np.random.default_rng(9)
    frame, styled = (rng.normal(size=(2, 20, 26, 3)).astype("float32") for _ in range(2))
    stage = DetailStage(5)
    stage(frame, styled)
    for v in stage.weights:
        v.assign(rng.normal(0, 0.5, v.shape))
    hk, hb, ok, ob = (keras.ops.convert_to_numpy(v) for v in stage.weights)
    pad = lambda t: np.pad(t, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")  # noqa: E731
    conv = lambda t, k: keras.ops.convert_to_numpy(keras.ops.conv(pad(t), k))  # noqa: E731
    hidden = np.maximum(conv(np.concatenate([frame, styled], -1), hk) + hb, 0)
    expected = styled + conv(hidden, ok) + ob
    got = keras.ops.convert_to_numpy(stage(frame, styled))
    np.testing.assert_allclose(got[:, 1:-1, 1:-1], expected[:, 1:-1, 1:-1], atol=1e-4)
    assert np.abs(got - expected).max() > 1e-2   # the outermost pixels see the mirror differently


def test_render_stage_on_folded_pixels_is_bilinear_upsampling_and_full_resolution_convolutions():
    from stylecam.network import Bilinear2x, RenderStage
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


def test_a_rendered_design_draws_no_grid_on_a_flat_frame_and_costs_what_it_runs():
    keras.utils.set_random_seed(0)
    net = build_design("fast")
    trained_like(net)
    y = keras.ops.convert_to_numpy(net(np.full((1, 64, 96, 3), 128.0, "float32")))[0, 8:-8, 8:-8]
    assert np.ptp(y, axis=(0, 1)).max() < 1e-2
    x = np.random.default_rng(2).uniform(0, 255, (1, 37, 53, 3)).astype("float32")
    assert tuple(net(x).shape) == (1, 37, 53, 3)
    names = [c.name for c in count_flops(net, 360, 640).convs]
    assert {"render.hidden", "render.frame", "render.out"} <= set(names) and "in_conv.conv" in names
    previous = build_design("fast,render=0,antialias_input=0,detail=4")   # the fast design before render
    assert count_flops(net, 360, 640).total < 1.3 * count_flops(previous, 360, 640).total
    with pytest.raises(ValueError, match="2 with render"):
        parse_design("fast,smooth=4")


def test_model_files_from_before_the_subpixel_antialias_and_detail_options_keep_their_output(tmp_path):
    import json

    net = build_transform_net(**{**DESIGNS["fast"], "subpixel": 1, "antialias": 0, "detail": 0, "antialias_body": 0})
    save_model(net, tmp_path / "new.keras", {"name": "x"})
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(tmp_path / "new.keras") as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                for key in ("subpixel", "antialias", "detail", "antialias_body"):
                    del config["config"][key]
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    loaded = load_model(old)
    assert loaded.design == {**DESIGNS["fast"], "antialias": 0, "detail": 0, "antialias_body": 0}
    x = np.random.default_rng(5).uniform(0, 255, (1, 40, 56, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(net(x)))


def test_fast_design_compiles_for_changing_frame_sizes():
    # The compiled function relaxes to unknown H and W after a few sizes: every layer must cope.
    stylizer = Stylizer(build_design("fast"))
    for h, w in [(48, 64), (37, 53), (120, 90), (61, 33)]:
        assert stylizer.stylize(np.zeros((h, w, 3), np.uint8)).shape == (h, w, 3)
