import json

import cv2
import keras
import numpy as np
import pytest
from conftest import needs_jax, run_under_jax

from stylecam.errors import UserError
from stylecam.modelfile import file_sha256, load_model
from training import vgg
from training.gatys import paint
from training.losses import LossWeights
from training.train import TrainConfig, learning_rate, train

pytestmark = pytest.mark.slow  # every test here trains or starts stylecam

PLAIN = LossWeights(temporal=0.0)  # no stability term: the tiny runs stay fast


def config(photos, tmp_path, steps, every):
    return TrainConfig(
        str(photos.parent / "style.png"),
        str(photos),
        "tiny",
        output=str(tmp_path / "tiny.keras"),
        workdir=str(tmp_path / "run"),
        size=32,
        batch=2,
        steps=steps,
        lr=5e-3,
        style_size=64,
        width=4,
        checkpoint_every=every,
        precision="float32",
        weights=PLAIN,
    )


class Record(keras.callbacks.Callback):
    def __init__(self, stop_after_epoch=None, term="total"):
        super().__init__()
        self.epochs, self.losses, self.stop_after, self.term = [], [], stop_after_epoch, term
        self.steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs[self.term]))
        n = len(self.losses)  # logs are running means over the epoch; recover this step's value
        self.steps.append(n * self.losses[-1] - (n - 1) * self.losses[-2] if n > 1 else self.losses[0])

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
    assert meta["loss_weights"] == PLAIN.as_dict()
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


def test_init_starts_from_a_model_and_counts_its_steps(photos, tmp_path):
    scratch, resumed = Record(), Record()
    train(config(photos, tmp_path / "a", steps=30, every=30), progress=False, callbacks=[scratch])
    first = tmp_path / "a" / "tiny.keras"
    cfg = config(photos, tmp_path / "b", steps=4, every=4)
    cfg.init = str(first)
    train(cfg, progress=False, callbacks=[resumed])
    # Same seed, same first batch: from the trained weights the loss starts where training left it.
    assert resumed.losses[0] < 0.7 * scratch.losses[0]
    # Adam's first steps would wreck the trained network: from an --init model the rate warms up
    # from 0 (per-batch losses are too noisy on tiny crops to show it, so check the schedule).
    rate = learning_rate(cfg)
    assert float(rate(0)) == 0.0 and float(rate(1)) == pytest.approx(cfg.lr)
    cfg.steps = 400
    rate = learning_rate(cfg)
    ramp = [float(rate(s)) for s in (0, 25, 50, 100, 399)]
    assert ramp[:4] == pytest.approx([0.0, cfg.lr / 4, cfg.lr / 2, cfg.lr]) and ramp[4] == pytest.approx(cfg.lr)
    cfg.init = None
    assert learning_rate(cfg) == cfg.lr
    meta = load_model(tmp_path / "b" / "tiny.keras").metadata
    assert meta["steps"] == 34 and meta["init"]["steps"] == 30
    assert meta["init"]["sha256"] == file_sha256(first)


def test_fast_design_learns_its_teachers_output(photos, tmp_path):
    from stylecam.modelfile import save_model
    from stylecam.network import build_network

    # The teacher: another fast network (random, seed 7), so its output is one the student can
    # reach exactly; an untrained full network's noise-like output is not (the grid filter).
    keras.utils.set_random_seed(7)
    teacher_net = build_network("fast", width=4)
    teacher = save_model(teacher_net, tmp_path / "teacher.keras", {"name": "teacher"})
    rec = Record(term="distill")
    cfg = config(photos, tmp_path, steps=80, every=80)
    cfg.design, cfg.teacher, cfg.lr = "fast", str(teacher), 2e-2
    cfg.weights = LossWeights(content=0.0, style=0.0, tv=0.0, temporal=0.0, distill=1.0)
    train(cfg, progress=False, callbacks=[rec])
    assert np.mean(rec.steps[-5:]) < 0.5 * np.mean(rec.steps[:2])
    model = load_model(tmp_path / "tiny.keras")
    assert model.design == {"design": "fast", "width": 4, "residual_blocks": 3}
    assert model.metadata["design"] == "fast" and model.metadata["teacher"]["sha256"] == file_sha256(teacher)


def test_teacher_of_another_painting_is_refused(photos, tmp_path):
    train(config(photos, tmp_path / "a", steps=2, every=2), progress=False)
    other = tmp_path / "other.png"
    other.write_bytes((photos / "p0.png").read_bytes())
    cfg = config(photos, tmp_path / "b", steps=2, every=2)
    cfg.style_image, cfg.design, cfg.teacher = str(other), "fast", str(tmp_path / "a" / "tiny.keras")
    with pytest.raises(UserError, match="another painting"):
        train(cfg, progress=False)


def test_train_cli_bad_design_and_mismatched_init_are_one_line_errors(photos, tmp_path, tiny_model):
    import subprocess
    import sys

    def train_cli(*extra):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "stylecam.cli",
                "train",
                str(photos.parent / "style.png"),
                "--content",
                str(photos),
                "--name",
                "x",
                "--workdir",
                str(tmp_path / "run"),
                "-o",
                str(tmp_path / "x.keras"),
                "--size",
                "32",
                "--batch",
                "2",
                "--steps",
                "2",
                "--checkpoint-every",
                "2",
                *map(str, extra),
            ],
            capture_output=True,
            text=True,
        )

    for extra, words in [
        (("--design", "bogus"), "--design must be full or fast"),
        (("--from-scratch", "--init", tiny_model), "different network"),
        (("--init", tiny_model), "go with --from-scratch"),
    ]:
        r = train_cli(*extra)
        assert r.returncode == 2 and words in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "x.keras").exists()


def test_train_cli_defaults_are_the_library_defaults():
    import inspect

    from stylecam import cli
    from training.train import SCRATCH_RECIPE

    params = inspect.signature(cli.train).parameters
    defaults = LossWeights()
    for term in ("content", "style", "tv", "noise"):
        assert params[f"{term}_weight"].default.default == getattr(defaults, term), term
    assert SCRATCH_RECIPE["temporal"] == defaults.temporal  # from scratch, the library's stability term


JAX_TRAIN = """
import json, sys
import keras
import numpy as np
from stylecam.modelfile import load_model
from stylecam.stylizer import Stylizer
from training.losses import LossWeights
from training.train import TrainConfig, train

photos, out = sys.argv[1], sys.argv[2]
losses = []

class Record(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        losses.append(float(logs["total"]))

cfg = TrainConfig(photos + "/../style.png", photos, "tiny", output=out + "/tiny.keras", workdir=out + "/run",
                  size=32, batch=2, steps=30, lr=5e-3, style_size=64, width=4, checkpoint_every=30,
                  precision="float32", weights=LossWeights(temporal=100.0))
train(cfg, progress=False, callbacks=[Record()])
frame = np.load(out + "/frame.npy")
np.save(out + "/stylized.npy", Stylizer(load_model(out + "/tiny.keras")).stylize(frame))
print(json.dumps({"backend": keras.backend.backend(), "losses": losses}))
"""


@needs_jax
def test_training_runs_under_jax_and_its_model_file_runs_under_tensorflow(photos, tmp_path):
    # The same training code on Keras's JAX backend (how a GPU without TensorFlow trains), with
    # the warp term's random motions; the model file it writes must give the same pictures here.
    from stylecam.stylizer import Stylizer

    frame = cv2.imread(str(photos / "p3.png"))[..., ::-1].copy()
    np.save(tmp_path / "frame.npy", frame)
    result = run_under_jax(JAX_TRAIN, photos, tmp_path)
    assert result["backend"] == "jax" and len(result["losses"]) == 30
    assert np.mean(result["losses"][-3:]) < 0.7 * result["losses"][0]
    model = load_model(tmp_path / "tiny.keras")
    assert model.metadata["steps"] == 30 and model.metadata["temporal_training"]
    jax_out = np.load(tmp_path / "stylized.npy")
    tf_out = Stylizer(model).stylize(frame)
    assert np.abs(jax_out.astype(int) - tf_out.astype(int)).max() <= 1  # rounding only


def test_a_new_style_on_a_shared_body_trains_only_its_style_parameters(photos, tmp_path):
    from stylecam.network import blend_networks

    train(config(photos, tmp_path / "a", steps=20, every=20), progress=False)
    body = load_model(tmp_path / "a" / "tiny.keras")
    cfg = config(photos, tmp_path / "b", steps=10, every=10)
    cfg.body, cfg.lr = str(tmp_path / "a" / "tiny.keras"), 5e-2
    train(cfg, progress=False)
    new = load_model(tmp_path / "b" / "tiny.keras")
    own = {id(v) for layer in new.style_layers() for v in layer.weights}
    for before, after in zip(body.weights, new.weights):
        moved = not np.array_equal(before.numpy(), after.numpy())
        assert moved == (id(after) in own), after.path  # the body stays, the style parameters move
    assert new.body_sha256() == body.body_sha256() == new.metadata["body"]["body_sha256"]
    assert new.metadata["body"]["sha256"] == file_sha256(tmp_path / "a" / "tiny.keras")
    assert new.metadata["steps"] == 10 and "init" not in new.metadata
    # Sharing a body, the two blend: the mean of their style parameters draws a third picture.
    frame = np.random.default_rng(1).integers(0, 256, (1, 32, 40, 3)).astype("float32")
    a, b = body(frame).numpy(), new(frame).numpy()
    assert np.array_equal(blend_networks([(body, 1.0), (new, 0.0)])(frame).numpy(), a)
    half = blend_networks([(body, 0.5), (new, 0.5)])
    for layer, la, lb in zip(half.style_layers(), body.style_layers(), new.style_layers()):
        for v, va, vb in zip(layer.weights, la.weights, lb.weights):
            assert np.allclose(v.numpy(), (va.numpy() + vb.numpy()) / 2)
    mixed = half(frame).numpy()
    assert (
        np.abs(mixed - a).mean() > 0.05 * np.abs(b - a).mean()
        and np.abs(mixed - b).mean() > 0.05 * np.abs(b - a).mean()
    )
    other = config(photos, tmp_path / "c", steps=10, every=10)
    other.seed = 3
    train(other, progress=False)
    with pytest.raises(ValueError, match="do not share a body"):
        blend_networks([(body, 0.5), (load_model(tmp_path / "c" / "tiny.keras"), 0.5)])
    # Going on from a style on its body (--init): the body stays the body named, not the init.
    more = config(photos, tmp_path / "d", steps=4, every=4)
    more.body, more.init = cfg.body, str(tmp_path / "b" / "tiny.keras")
    train(more, progress=False)
    went_on = load_model(tmp_path / "d" / "tiny.keras").metadata
    assert went_on["body"]["sha256"] == file_sha256(tmp_path / "a" / "tiny.keras")
    assert went_on["init"]["sha256"] == file_sha256(tmp_path / "b" / "tiny.keras") and went_on["steps"] == 14
    more.init, more.output, more.workdir = (
        str(tmp_path / "c" / "tiny.keras"),
        str(tmp_path / "e.keras"),
        str(tmp_path / "e"),
    )
    with pytest.raises(UserError, match="is not a style on the body"):
        train(more, progress=False)
    assert not (tmp_path / "e.keras").exists()


def test_train_cli_makes_a_full_and_a_fast_style_on_the_shared_bodies(photos, tmp_path):
    """The default route: the new style's parameters on a full body, then on a fast body,
    distilled from the new full network; the bodies' own weights untouched."""
    import subprocess
    import sys

    from stylecam.modelfile import save_model
    from stylecam.network import build_network

    keras.utils.set_random_seed(5)
    full = save_model(build_network("full", width=4, residual_blocks=1), tmp_path / "body.keras", {"name": "b"})
    save_model(build_network("fast", width=4, residual_blocks=1), tmp_path / "body.fast.keras", {"name": "b"})

    def train_cli(name):
        args = ["train", photos.parent / "style.png", "--content", photos, "--name", name,
                "-o", tmp_path / f"{name}.keras", "--workdir", tmp_path / "run" / name, "--body", full,
                "--size", 32, "--steps", 4, "--checkpoint-every", 2, "--precision", "float32"]  # fmt: skip
        return subprocess.run([sys.executable, "-m", "stylecam.cli", *map(str, args)], capture_output=True, text=True)

    r = train_cli("mine")
    assert r.returncode == 0, r.stderr[-2000:]
    made = load_model(tmp_path / "mine.keras")
    twin = load_model(tmp_path / "mine.fast.keras")
    assert made.design["design"] == "full" and twin.design["design"] == "fast"
    assert made.body_sha256() == load_model(full).body_sha256()
    assert twin.body_sha256() == load_model(tmp_path / "body.fast.keras").body_sha256()
    assert twin.metadata["teacher"]["model"] == "mine.keras" and twin.metadata["body"]["model"] == "body.fast.keras"
    (tmp_path / "body.fast.keras").unlink()
    r = train_cli("again")
    assert r.returncode == 2 and "no fast body" in r.stderr and not (tmp_path / "again.keras").exists(), r.stderr
