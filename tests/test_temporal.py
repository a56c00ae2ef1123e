"""Temporal-stability training terms (training/temporal.py) and their use in training."""

import math

import cv2
import numpy as np
import pytest
from keras import ops

from stylecam.modelfile import load_model
from training import temporal
from training.losses import LossWeights
from training.temporal import (
    Motion,
    move,
    similarity_transforms,
    stability_terms,
    valid_mask,
)
from training.train import TrainConfig, train

STILL = Motion(brightness=0.0, view_noise=0.0)  # geometry only


def transforms(shift=(0.0, 0.0), zoom=0.0, degrees=0.0, size=(15, 15)):
    return similarity_transforms(
        np.array([shift], "float32"), np.array([zoom], "float32"), np.array([degrees * math.pi / 180], "float32"), *size
    )


def smooth_images(n=2, h=32, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype("float32"), (0, 0), 2) for _ in range(n)])


def test_integer_translation_shifts_exactly_and_masks_the_uncovered_border():
    x = np.random.default_rng(0).uniform(0, 255, (1, 12, 16, 3)).astype("float32")
    t = transforms(shift=(3, -2), size=(12, 16))  # content moves 3 px right, 2 px up
    moved = ops.convert_to_numpy(move(x, t))
    np.testing.assert_allclose(moved[0, :10, 3:], x[0, 2:, :13], atol=1e-3)
    mask = ops.convert_to_numpy(valid_mask(t, x))[0, ..., 0]
    expected = np.zeros((12, 16))
    expected[:10, 3:] = 1
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("zoom,degrees,to", [(0.0, 90.0, (9, 7)), (0.5, 0.0, (7, 10))])
def test_rotation_and_zoom_move_points_about_the_centre(zoom, degrees, to):
    x = np.zeros((1, 15, 15, 1), "float32")
    x[0, 7, 9] = 255.0  # row 7, column 9: 2 px right of the centre (7, 7)
    moved = ops.convert_to_numpy(move(x, transforms(zoom=zoom, degrees=degrees)))[0, ..., 0]
    assert np.unravel_index(np.argmax(moved), moved.shape) == to
    assert moved[to] == pytest.approx(255.0, abs=1e-3)


def test_warp_term_is_zero_for_equivariant_networks_and_large_for_noise():
    import keras

    x = ops.convert_to_tensor(smooth_images())
    seed = keras.random.SeedGenerator(1)
    for net in (lambda v: v, lambda v: 0.5 * v[..., ::-1] + 20.0):  # identity, per-pixel colour map
        terms = stability_terms(net, x, net(x), seed, noise=False, motion=STILL)
        assert float(terms["temporal"]) < 1e-3  # float32 rounding only
    rng = np.random.default_rng(2)

    def noise_net(v):
        return ops.convert_to_tensor(rng.uniform(0, 255, ops.shape(v)).astype("float32"))

    terms = stability_terms(noise_net, x, noise_net(x), seed)
    assert float(terms["temporal"]) > 5000 and float(terms["noise"]) > 5000
    # The identity under the default motion only sees the mild brightness change and noise.
    ident = temporal.measure(lambda v: v, smooth_images(4), seed=3)
    assert 2 < ident["temporal"] < 40 and ident["noise"] == pytest.approx(Motion().noise ** 2, rel=0.2)


@pytest.mark.slow
def test_training_with_the_terms_lowers_them():
    """Same start, same batches: a heavy stability weight gives a far steadier network."""
    import keras

    from stylecam.network import FullNet
    from training import vgg
    from training.losses import PerceptualLoss
    from training.train import Trainer

    features = vgg.build_vgg_features()
    style = np.zeros((32, 32, 3), np.uint8)
    style[:, ::4] = (30, 60, 220)
    style[::4, :] = (240, 220, 20)
    crops, held = smooth_images(12, seed=3), smooth_images(4, seed=7)
    measured = []
    for weights in (LossWeights(style=3.0, temporal=0.0), LossWeights(style=3.0, temporal=1e5, noise=1e5)):
        keras.utils.set_random_seed(0)
        net = FullNet(4, residual_blocks=1)
        trainer = Trainer(net, PerceptualLoss(style, features, weights))
        trainer.compile(optimizer=keras.optimizers.Adam(5e-3), run_eagerly=True)
        history = trainer.fit(crops, batch_size=2, epochs=3, shuffle=False, verbose=0).history
        assert ("temporal" in history) == weights.temporal_training
        measured.append(temporal.measure(net, held))
    plain, stable = measured
    assert stable["temporal"] < 0.5 * plain["temporal"] and stable["noise"] < 0.5 * plain["noise"]


@pytest.mark.slow
def test_train_tracks_the_terms_and_records_them_in_the_model_file(photos, tmp_path):
    assert LossWeights().temporal_training and LossWeights().noise == 0  # warp term on by default
    weights = LossWeights(
        style=3.0, temporal=temporal.RECOMMENDED_TEMPORAL_WEIGHT, noise=temporal.RECOMMENDED_NOISE_WEIGHT
    )
    cfg = TrainConfig(
        str(photos.parent / "style.png"),
        str(photos),
        "tiny",
        output=str(tmp_path / "tiny.keras"),
        workdir=str(tmp_path / "run"),
        size=32,
        batch=2,
        steps=4,
        lr=5e-3,
        style_size=64,
        width=4,
        checkpoint_every=4,
        precision="float32",
        weights=weights,
    )
    summary = train(cfg, progress=False)
    assert {"temporal", "noise"} <= set(summary["final_losses"])
    assert all(np.isfinite(v) for v in summary["final_losses"].values())
    meta = load_model(tmp_path / "tiny.keras").metadata
    assert meta["temporal_training"] is True and meta["loss_weights"] == weights.as_dict()
    assert meta["temporal_motion"] == Motion().as_dict()


@pytest.mark.parametrize("fill_mode", ["constant", "reflect"])
def test_move_resamples_exactly_like_keras_affine_transform(fill_mode):
    # move() gathers by hand so that XLA compiles it; it must stay the same resampling.
    x = np.random.default_rng(0).uniform(0, 255, (3, 37, 53, 3)).astype("float32")
    t = temporal.random_transforms(3, 37, 53, seed=1, motion=temporal.Motion(shift=6.0, zoom=0.05, degrees=4.0))
    expected = ops.image.affine_transform(
        x, t, interpolation="bilinear", fill_mode=fill_mode, fill_value=0, data_format="channels_last"
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(temporal.move(x, t, fill_mode)), ops.convert_to_numpy(expected), atol=1e-3
    )
