import numpy as np
import pytest

from training import vgg


@pytest.fixture(scope="module")
def weights():
    return vgg.load_vgg_weights()


def test_imagenet_weights_load_and_hash_matches(weights):
    assert vgg.fingerprint(weights) == vgg.WEIGHTS_SHA256
    np.testing.assert_allclose(
        weights["block1_conv1"][0][0, 0, 0, :4], [0.42947057, 0.11727387, 0.03401296, 0.35422093], rtol=1e-6
    )
    assert weights["block4_conv3"][0].shape == (3, 3, 512, 512)


def test_conversion_from_the_offline_package_writes_a_verified_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECAM_CACHE", str(tmp_path))
    w = vgg.load_vgg_weights()
    assert vgg.fingerprint(w) == vgg.WEIGHTS_SHA256
    cached = tmp_path / "vgg16_to_relu4_3.npz"
    assert cached.exists()
    assert vgg.fingerprint(vgg.load_vgg_weights(cached)) == vgg.WEIGHTS_SHA256


def test_wrong_weights_are_rejected(weights, tmp_path):
    bad = tmp_path / "bad.npz"
    arrays = {f"{n}/{p}": a for n, (k, b) in weights.items() for p, a in (("kernel", k), ("bias", b))}
    arrays["block1_conv1/bias"] = arrays["block1_conv1/bias"] + 1e-3
    np.savez(bad, **arrays)
    with pytest.raises(vgg.VGGWeightsError, match="not ImageNet VGG16"):
        vgg.load_vgg_weights(bad)


def test_features_have_vgg_shapes(weights):
    model = vgg.build_vgg_features(weights)
    out = model(np.zeros((1, 32, 48, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "relu1_2": (1, 32, 48, 64),
        "relu2_2": (1, 16, 24, 128),
        "relu3_3": (1, 8, 12, 256),
        "relu4_3": (1, 4, 6, 512),
    }
