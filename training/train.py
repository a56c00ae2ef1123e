"""Train a Johnson transformation network for one painting (``stylecam train``)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stylecam.errors import UserError

from .loss_model import LossModel
from .losses import LossWeights
from .temporal import TEMPORAL_TERMS

PREVIEW_PHOTOS = 4

# ``stylecam train``'s settings. A new style on the shared body trains only its style parameters,
# so few steps suffice and the warp term is left to the body; from scratch, every weight learns.
SCRATCH_RECIPE = dict(size=256, batch=4, steps=4000, lr=1e-3, checkpoint_every=100, temporal=100.0, distill=1000.0)
STYLE_RECIPE = dict(size=256, batch=2, steps=360, lr=3e-3, checkpoint_every=60, temporal=0.0, distill=0.0)
FAST_RECIPE = dict(size=128, batch=4, steps=400, lr=3e-3, checkpoint_every=100, temporal=0.0, distill=100.0)


@dataclass
class TrainConfig:
    style_image: str
    content_dir: str
    name: str
    output: str | None = None  # default: NAME.keras in the current directory
    workdir: str | None = None  # checkpoints, TensorBoard, previews; default runs/NAME
    size: int = 256
    batch: int = 4
    steps: int = 4000
    lr: float = 1e-3
    style_size: int = 512  # long side of the painting when its Grams are taken
    weights: LossWeights = field(default_factory=LossWeights)
    design: str = "full"  # "full" or "fast" (stylecam.network.DESIGNS)
    width: int | None = None  # channels of the first stage; None: the design's
    precision: str = "auto"  # "float32", "bfloat16" (mixed; losses float32) or "auto"
    checkpoint_every: int = 100
    scale_range: tuple = (0.5, 1.0)
    seed: int = 0
    vgg_weights: str | None = None
    title: str = ""
    artist: str = ""
    init: str | None = None  # start from this model file's weights (continue / fine-tune)
    teacher: str | None = None  # a trained model of the same style to distil (weights.distill)
    body: str | None = None  # train only the style parameters on this model's shared body

    @property
    def sizes(self) -> dict:
        """The network's constructor sizes that differ from its design's defaults."""
        return {"width": self.width} if self.width else {}

    @property
    def out_path(self) -> Path:
        return Path(self.output or f"{self.name}.keras")

    @property
    def run_dir(self) -> Path:
        return Path(self.workdir or Path("runs") / self.name)


def train(cfg: TrainConfig, progress=True, callbacks=()) -> dict:
    """Train, checkpointing every ``checkpoint_every`` steps; a rerun resumes. Returns a summary."""
    import keras

    from stylecam.modelfile import save_model
    from stylecam.network import DESIGNS, build_network

    from . import data, vgg
    from .losses import PerceptualLoss
    from .progress import ProgressBar

    if cfg.steps % cfg.checkpoint_every:
        raise ValueError("steps must be a multiple of checkpoint_every")
    keras.utils.set_random_seed(cfg.seed)
    try:  # inputs first: a bad one must leave nothing behind
        style = data.read_rgb(cfg.style_image)
        photos = data.load_folder(cfg.content_dir, max_side=2 * cfg.size)
    except ValueError as e:
        raise UserError(str(e)) from None
    style_sized = data.resize_long_side(style, cfg.style_size)
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    held, train_photos = (
        (photos[:PREVIEW_PHOTOS], photos[PREVIEW_PHOTOS:])
        if len(photos) > 2 * PREVIEW_PHOTOS
        else (photos[:PREVIEW_PHOTOS], photos)
    )
    crops = data.RandomCrops(train_photos, cfg.size, cfg.batch, cfg.scale_range, seed=cfg.seed)

    vgg_weights = vgg.load_vgg_weights(cfg.vgg_weights)
    precision = resolve_precision(cfg.precision)
    policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        loss = PerceptualLoss(style_sized, vgg.build_vgg_features(vgg_weights), cfg.weights)
        sizes = _body_sizes(cfg) if cfg.body else cfg.sizes
        net = DESIGNS[cfg.design](**sizes)
        teacher = _teacher(cfg.teacher, cfg.style_image) if cfg.teacher else None
        trainer = Trainer(net, loss, seed=cfg.seed, teacher=teacher, name="trainer")
        # XLA: faster training steps than the graph executor on the CPUs measured (docs/results.md).
        trainer.compile(optimizer=keras.optimizers.Adam(learning_rate(cfg)), jit_compile=True)
        trainer(np.zeros((1, cfg.size, cfg.size, 3), "float32"))
        body = _init_from(net, cfg.body) if cfg.body else None
        body_sha = net.body_sha256() if cfg.body else None
        init = _init_from(net, cfg.init) if cfg.init else None
        if cfg.body:
            if net.body_sha256() != body_sha:
                raise UserError(f"--init {cfg.init} is not a style on the body {cfg.body}")
            freeze_body(net)

        epochs = cfg.steps // cfg.checkpoint_every
        callbacks = [
            keras.callbacks.BackupAndRestore(str(run_dir / "checkpoint"), save_freq="epoch"),
            *_tensorboard(run_dir, held, 2 * cfg.size),
            *callbacks,
        ]
        if progress:
            callbacks.append(
                ProgressBar(
                    cfg.steps,
                    cfg.checkpoint_every,
                    f"train {cfg.name}",
                    ("total", "content", "style", "tv", *TEMPORAL_TERMS, "distill"),
                )
            )
        started = time.time()
        history = trainer.fit(
            iter(crops),
            epochs=epochs,
            steps_per_epoch=cfg.checkpoint_every,
            verbose=0,
            callbacks=callbacks,
            shuffle=False,
        )
        seconds = time.time() - started
    finally:
        keras.config.set_dtype_policy(previous_policy)

    final = {k: float(v[-1]) for k, v in history.history.items()} if history.history else {}
    export = build_network(cfg.design, metadata={}, dtype="float32", **sizes)
    export.set_weights(net.get_weights())
    metadata = {
        "name": cfg.name,
        "title": cfg.title,
        "artist": cfg.artist,
        "style_image": Path(cfg.style_image).name,
        "style_sha256": hashlib.sha256(Path(cfg.style_image).read_bytes()).hexdigest(),
        "train_size": cfg.size,
        "style_size": cfg.style_size,
        "batch": cfg.batch,
        "steps": cfg.steps + (init["steps"] if cfg.init else 0),
        "lr": cfg.lr,
        **({"body": {**body, "body_sha256": export.body_sha256()}} if cfg.body else {}),
        **({"init": init} if cfg.init else {}),
        "precision": precision,
        "loss_weights": cfg.weights.as_dict(),
        **export.design,
        **({"teacher": _model_ref(cfg.teacher, teacher)} if teacher is not None else {}),
        "temporal_training": cfg.weights.temporal_training,
        **({"temporal_motion": trainer.motion.as_dict()} if cfg.weights.temporal_training else {}),
        "vgg_sha256": vgg.WEIGHTS_SHA256,
        "final_losses": final,
        "content_photos": len(train_photos),
        "held_out_losses": held_out_losses(export, loss, held, cfg.size),
        "wall_seconds_last_run": round(seconds, 1),
    }
    save_model(export, cfg.out_path, metadata)
    sheet = save_sheet(preview_pairs(export, held, 384), run_dir / "preview.png")
    summary = {"model": str(cfg.out_path), "preview": str(sheet), **metadata}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


WARMUP_STEPS = 100


def learning_rate(cfg: TrainConfig):
    """Constant ``cfg.lr``; from an ``--init`` model, reached by a linear warm-up. Adam's first
    steps move every weight by about lr whatever its gradient, in a coherent direction: harmless
    on random weights, but they wreck a trained network."""
    import keras

    if not (cfg.init or cfg.body):
        return cfg.lr
    warmup = min(WARMUP_STEPS, max(1, cfg.steps // 4))
    return keras.optimizers.schedules.CosineDecay(0.0, cfg.steps, alpha=1.0, warmup_target=cfg.lr, warmup_steps=warmup)


def _body_sizes(cfg) -> dict:
    """The shared body's sizes: the new style's network is built to match it."""
    from stylecam.modelfile import read_sizes

    return read_sizes(cfg.body)


def freeze_body(net) -> None:
    """Only the style parameters (net.style_layers()) stay trainable: a new style on a shared body."""
    own = {id(sub) for layer in net.style_layers() for sub in layer._flatten_layers()}
    for layer in net._flatten_layers(include_self=False):
        holds_style = any(id(sub) in own for sub in layer._flatten_layers())
        if not holds_style:  # a parent's flag would reach its style layers too
            layer.trainable = False


def _model_ref(path, model) -> dict:
    """What ``model``, loaded from ``path``, was: for the new file's metadata."""
    from stylecam.modelfile import file_sha256

    meta = model.metadata
    return {
        "model": Path(path).name,
        "sha256": file_sha256(path),
        "steps": int(meta.get("steps", 0)),
        "loss_weights": meta.get("loss_weights"),
        "train_size": meta.get("train_size"),
    }


def _teacher(path, style_image):
    """The teacher network, which must have learned this painting."""
    from stylecam.modelfile import load_model

    teacher = load_model(path)
    want = hashlib.sha256(Path(style_image).read_bytes()).hexdigest()
    if teacher.metadata.get("style_sha256") not in (None, want):
        raise UserError(f"--teacher {path} learned another painting ({teacher.metadata.get('style_image')})")
    return teacher


def _init_from(net, path) -> dict:
    """Copy a model file's weights into ``net``; what it was, for the new file's metadata."""
    from stylecam.modelfile import load_model

    model = load_model(path)
    if model.design != net.design:
        raise UserError(
            f"--init {path} is a different network ({model.design}) from the one "
            f"being trained ({net.design}); pick the matching --design"
        )
    net.set_weights(model.get_weights())
    return _model_ref(path, model)


class Trainer(LossModel):
    """The network under training; fit() minimises its perceptual loss, plus the
    temporal-stability terms of training.temporal where their weights are > 0.

    The stability terms add no trainable variables (checkpoints stay the network's weights
    plus Adam's state): only a SeedGenerator, whose state is not checkpointed, so a resumed
    run restarts its sequence of random motions (as RandomCrops restarts its crops).
    """

    def __init__(self, net, loss, seed=0, motion=None, teacher=None, **kwargs):
        import keras

        from .loss_model import TERMS
        from .temporal import Motion

        w = loss.weights
        stability = {"temporal": w.temporal > 0, "noise": w.noise > 0}
        extra = tuple(t for t, on in stability.items() if on)
        super().__init__(loss, terms=TERMS + extra + (("distill",) if teacher is not None else ()), **kwargs)
        self.net = net
        if teacher is not None:
            teacher.trainable = False
        self.teacher = teacher
        self.stability, self.motion = stability, motion or Motion()
        if extra:
            self.motion_seed = keras.random.SeedGenerator(seed, name="motion_seed")

    def call(self, x):
        return self.net(x)

    def loss_terms(self, x, y_pred) -> dict:
        terms = super().loss_terms(x, y_pred)
        if self.teacher is not None:
            from keras import ops

            from .losses import distill_loss

            d = distill_loss(y_pred, ops.stop_gradient(self.teacher(x)))
            terms = {**terms, "distill": d, "total": terms["total"] + self.perceptual.weights.distill * d}
        if not any(self.stability.values()):
            return terms
        from .temporal import stability_terms

        extra = stability_terms(self.net, x, y_pred, self.motion_seed, motion=self.motion, **self.stability)
        w = self.perceptual.weights
        total = terms["total"]
        for name, value in extra.items():
            total = total + getattr(w, name) * value
        return {**terms, **extra, "total": total}


def resolve_precision(precision: str) -> str:
    """'auto' -> bfloat16 only where the CPU computes it natively (or on a GPU)."""
    if precision != "auto":
        return precision
    from stylecam.hardware import native_bfloat16

    return "bfloat16" if native_bfloat16() else "float32"


def held_out_losses(net, loss, photos, size) -> dict:
    """Mean loss terms of ``net`` on photos it never trained on, at long side ``size``."""
    from .gatys import evaluate_terms

    rows = [evaluate_terms(loss, out[None], content[None]) for content, out in preview_pairs(net, photos, size)]
    return {k: float(np.mean([r[k] for r in rows])) for k in ("content", "style", "tv")}


def preview_pairs(net, photos, size):
    """(content, stylized) uint8 pairs, content downscaled to long side ``size``."""
    from stylecam.stylizer import Stylizer

    from .data import resize_long_side

    stylizer = Stylizer(net)
    return [(small, stylizer.stylize(small)) for small in (resize_long_side(p, size) for p in photos)]


def save_sheet(pairs, path) -> Path:
    """content | stylized, one row per pair, as a PNG."""
    import cv2

    rows = [np.hstack(pair) for pair in pairs]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    return path


def _tensorboard(run_dir, held, size):
    """TensorBoard scalars, and preview images both in TensorBoard and as PNGs in run_dir/previews."""
    import keras

    try:
        import tensorboard  # noqa: F401
        import tensorflow as tf  # TensorBoard writes through tf.summary
    except ImportError:
        tf = None

    class PreviewImages(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "preview")) if tf else None

        def on_epoch_end(self, epoch, logs=None):
            step = (epoch + 1) * self.params["steps"]
            pairs = preview_pairs(self.model.net, held[:2], size)
            save_sheet(pairs, run_dir / "previews" / f"step{step:06d}.png")
            if self.writer is not None:
                with self.writer.as_default():
                    for i, pair in enumerate(pairs):
                        tf.summary.image(f"preview/{i}", np.hstack(pair)[None], step=step)
                self.writer.flush()

    board = [keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), update_freq=20)] if tf else []
    return [*board, PreviewImages()]
