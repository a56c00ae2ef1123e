"""Train a Johnson transformation network for one painting (``stylecam train``)."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .loss_model import LossModel
from .losses import LossWeights

PREVIEW_PHOTOS = 4


@dataclass
class TrainConfig:
    style_image: str
    content_dir: str
    name: str
    output: str | None = None          # default: NAME.keras in the current directory
    workdir: str | None = None         # checkpoints, TensorBoard, previews; default runs/NAME
    size: int = 256
    batch: int = 4
    steps: int = 4000
    lr: float = 1e-3
    style_size: int = 512               # long side of the painting when its Grams are taken
    weights: LossWeights = field(default_factory=LossWeights)
    width: int = 32
    precision: str = "auto"             # "float32", "bfloat16" (mixed; losses float32) or "auto"
    checkpoint_every: int = 100
    scale_range: tuple = (0.5, 1.0)
    seed: int = 0
    vgg_weights: str | None = None
    title: str = ""
    artist: str = ""

    @property
    def out_path(self) -> Path:
        return Path(self.output or f"{self.name}.keras")

    @property
    def run_dir(self) -> Path:
        return Path(self.workdir or Path("runs") / self.name)


def train(cfg: TrainConfig, progress=True) -> dict:
    """Train, checkpointing every ``checkpoint_every`` steps; a rerun resumes. Returns a summary."""
    import keras

    from stylecam.modelfile import save_model
    from stylecam.network import TransformNet, build_transform_net

    from . import data, vgg
    from .losses import PerceptualLoss
    from .progress import ProgressBar

    if cfg.steps % cfg.checkpoint_every:
        raise ValueError("steps must be a multiple of checkpoint_every")
    keras.utils.set_random_seed(cfg.seed)
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)

    style = data.read_rgb(cfg.style_image)
    style_sized = data.resize_long_side(style, cfg.style_size)
    photos = data.load_folder(cfg.content_dir, max_side=2 * cfg.size)
    held, train_photos = (photos[:PREVIEW_PHOTOS], photos[PREVIEW_PHOTOS:]) \
        if len(photos) > 2 * PREVIEW_PHOTOS else (photos[:PREVIEW_PHOTOS], photos)
    crops = data.RandomCrops(train_photos, cfg.size, cfg.batch, cfg.scale_range, seed=cfg.seed)

    vgg_weights = vgg.load_vgg_weights(cfg.vgg_weights)
    precision = resolve_precision(cfg.precision)
    policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        loss = PerceptualLoss(style_sized, vgg.build_vgg_features(vgg_weights), cfg.weights)
        net = TransformNet(cfg.width)
        trainer = Trainer(net, loss, name="trainer")
        trainer.compile(optimizer=keras.optimizers.Adam(cfg.lr), jit_compile=False)
        trainer(np.zeros((1, cfg.size, cfg.size, 3), "float32"))

        epochs = cfg.steps // cfg.checkpoint_every
        callbacks = [keras.callbacks.BackupAndRestore(str(run_dir / "checkpoint"), save_freq="epoch")]
        callbacks += _tensorboard(run_dir, held, cfg.size)
        if progress:
            callbacks.append(ProgressBar(cfg.steps, cfg.checkpoint_every, f"train {cfg.name}",
                                         ("total", "content", "style", "tv")))
        started = time.time()
        history = trainer.fit(iter(crops), epochs=epochs, steps_per_epoch=cfg.checkpoint_every,
                              verbose=0, callbacks=callbacks)
        seconds = time.time() - started
    finally:
        keras.config.set_dtype_policy(previous_policy)

    final = {k: float(v[-1]) for k, v in history.history.items()} if history.history else {}
    export = build_transform_net(cfg.width, metadata={}, dtype="float32")
    export.set_weights(net.get_weights())
    metadata = {
        "name": cfg.name, "title": cfg.title, "artist": cfg.artist,
        "style_image": Path(cfg.style_image).name,
        "style_sha256": hashlib.sha256(Path(cfg.style_image).read_bytes()).hexdigest(),
        "train_size": cfg.size, "style_size": cfg.style_size, "batch": cfg.batch,
        "steps": cfg.steps, "lr": cfg.lr, "precision": precision,
        "loss_weights": cfg.weights.as_dict(), "width": cfg.width,
        "vgg_sha256": vgg.WEIGHTS_SHA256, "final_losses": final,
        "content_photos": len(train_photos),
        "wall_seconds_last_run": round(seconds, 1),
    }
    save_model(export, cfg.out_path, metadata)
    sheet = write_preview_sheet(export, held, run_dir / "preview.png")
    summary = {"model": str(cfg.out_path), "preview": str(sheet), **metadata}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


class Trainer(LossModel):
    """The network under training; fit() minimises its perceptual loss."""

    def __init__(self, net, loss, **kwargs):
        super().__init__(loss, **kwargs)
        self.net = net

    def call(self, x):
        return self.net(x)


def resolve_precision(precision: str) -> str:
    """'auto' -> bfloat16 only where the CPU computes it natively (or on a GPU)."""
    if precision != "auto":
        return precision
    from stylecam.hardware import native_bfloat16
    return "bfloat16" if native_bfloat16() else "float32"


def preview_images(net, photos, size):
    from stylecam.stylizer import Stylizer

    stylizer = Stylizer(net)
    from .data import resize_long_side

    rows = []
    for photo in photos:
        small = resize_long_side(photo, size)
        rows.append((small, stylizer.stylize(small)))
    return rows


def write_preview_sheet(net, photos, path, size=384) -> Path:
    """content | stylized, one row per held photo, as a PNG."""
    import cv2

    rows = []
    for content, out in preview_images(net, photos, size):
        rows.append(np.hstack([content, out]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    sheet = np.vstack(rows)
    path = Path(path)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def _tensorboard(run_dir, held, size):
    try:
        import tensorboard  # noqa: F401
        import tensorflow as tf  # TensorBoard writes through tf.summary
    except ImportError:
        return []
    import keras

    class PreviewImages(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "preview"))

        def on_epoch_end(self, epoch, logs=None):
            net = self.model.net
            images = [np.hstack(pair) for pair in preview_images(net, held[:2], size)]
            with self.writer.as_default():
                for i, im in enumerate(images):
                    tf.summary.image(f"preview/{i}", im[None], step=epoch)

    return [keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), update_freq=20),
            PreviewImages()]
