import numpy as np
from keras import ops

from training.losses import content_loss, gram, style_loss, tv_loss

rng = np.random.default_rng(0)


def test_gram_matches_hand_computation():
    f = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    expected = np.stack([b.reshape(12, 5).T @ b.reshape(12, 5) for b in f]) / (3 * 4 * 5)
    np.testing.assert_allclose(ops.convert_to_numpy(gram(f)), expected, rtol=1e-5, atol=1e-6)


def test_content_loss_is_mean_squared_feature_difference():
    a, b = rng.normal(size=(2, 3, 3, 4)), rng.normal(size=(2, 3, 3, 4))
    assert np.isclose(float(content_loss(a, b)), np.mean((a - b) ** 2), rtol=1e-5)


def test_style_loss_sums_layers_and_broadcasts_target_over_batch():
    g1, g2 = rng.normal(size=(3, 4, 4)), rng.normal(size=(3, 2, 2))
    t1, t2 = rng.normal(size=(1, 4, 4)), rng.normal(size=(1, 2, 2))
    expected = np.mean((g1 - t1) ** 2) + np.mean((g2 - t2) ** 2)
    got = float(
        style_loss(
            [ops.cast(g1, "float32"), ops.cast(g2, "float32")], [ops.cast(t1, "float32"), ops.cast(t2, "float32")]
        )
    )
    assert np.isclose(got, expected, rtol=1e-5)


def test_tv_loss_of_known_image():
    x = np.zeros((1, 2, 3, 1), "float32")
    x[0, 0, 1, 0] = 2.0  # one bright pixel
    # vertical diffs: 3 values, one is -2 -> mean 4/3; horizontal: 4 values, two are +-2 -> mean 8/4
    assert np.isclose(float(tv_loss(x)), 4 / 3 + 2.0)
    assert float(tv_loss(np.full((1, 4, 4, 3), 7.0, "float32"))) == 0.0
