import json

import cv2
import keras
import numpy as np
import pytest

from stylecam.modelfile import load_model
from training import vgg
from training.gatys import paint
from training.losses import LossWeights
from training.train import TrainConfig, train


def config(photos, tmp_path, steps, every):
    return TrainConfig(str(photos.parent / "style.png"), str(photos), "tiny",
                       output=str(tmp_path / "tiny.keras"), workdir=str(tmp_path / "run"),
                       size=32, batch=2, steps=steps, lr=5e-3, style_size=64, width=4,
                       checkpoint_every=every, precision="float32")


class Record(keras.callbacks.Callback):
    def __init__(self, stop_after_epoch=None):
        super().__init__()
        self.epochs, self.losses, self.stop_after = [], [], stop_after_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["total"]))

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.stop_after:
            raise KeyboardInterrupt  # as if the run were killed after this checkpoint


def test_training_lowers_the_loss_and_writes_a_model(photos, tmp_path):
    rec = Record()
    with pytest.warns(UserWarning, match="corrupt.jpg"):
        train(config(photos, tmp_path, steps=30, every=30), progress=False, callbacks=[rec])
    # Keras reports running means over the epoch; compare the first and last few steps.
    assert np.mean(rec.losses[-3:]) < 0.7 * rec.losses[0]
    model = load_model(tmp_path / "tiny.keras")
    meta = model.metadata
    assert meta["steps"] == 30 and meta["train_size"] == 32 and meta["width"] == 4
    assert meta["vgg_sha256"] == vgg.WEIGHTS_SHA256 and len(meta["style_sha256"]) == 64
    assert meta["loss_weights"] == LossWeights().as_dict()
    assert meta["held_out_losses"]["style"] > 0 and meta["held_out_losses"]["content"] > 0
    assert (tmp_path / "run" / "preview.png").exists()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 30


def test_killed_training_resumes_at_its_checkpoint(photos, tmp_path):
    first = Record(stop_after_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        train(config(photos, tmp_path, steps=15, every=5), progress=False, callbacks=[first])
    assert first.epochs == [0, 1] and not (tmp_path / "tiny.keras").exists()
    second = Record()
    train(config(photos, tmp_path, steps=15, every=5), progress=False, callbacks=[second])
    assert second.epochs == [2]  # steps 10..15 only: epochs 0 and 1 were restored
    assert load_model(tmp_path / "tiny.keras").metadata["steps"] == 15


def test_gatys_lowers_the_loss():
    rng = np.random.default_rng(1)
    content = cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (5, 5), 2)
    style = np.zeros((32, 32, 3), np.uint8)
    style[:, ::4] = (250, 200, 0)
    features = vgg.build_vgg_features()
    history = {}
    image, final = paint(content, style, features, steps=25, lr=8.0, progress=False, history=history)
    assert image.shape == content.shape and image.dtype == np.uint8
    from training.gatys import evaluate_terms
    from training.losses import PerceptualLoss
    start = evaluate_terms(PerceptualLoss(style, features), content[None], content[None])
    assert final["total"] < 0.5 * start["total"]
