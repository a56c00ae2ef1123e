"""Style fidelity on stills: a model's perceptual losses, optionally next to Gatys's."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import IMAGE_SUFFIXES, read_rgb, resize_long_side
from .gatys import evaluate_terms, paint
from .losses import LossWeights, PerceptualLoss


def still_losses(model_path, style_image, photos_dir, size=256, gatys_steps=0, vgg_weights=None):
    """Rows of {photo, content, style, [gatys_content, gatys_style]} at long side ``size``.

    The painting is measured at the model's own style size and loss weights, so the
    numbers are the ones the model was trained to lower.
    """
    from stylecam.modelfile import load_model
    from stylecam.stylizer import Stylizer

    from . import vgg

    net = load_model(model_path)
    meta = net.metadata
    weights = LossWeights(**meta.get("loss_weights", {}))
    painting = resize_long_side(read_rgb(style_image), int(meta.get("style_size", 512)))
    features = vgg.build_vgg_features(vgg.load_vgg_weights(vgg_weights))
    loss = PerceptualLoss(painting, features, weights)
    stylizer = Stylizer(net)
    rows = []
    for path in sorted(p for p in Path(photos_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        photo = resize_long_side(read_rgb(path), size)
        terms = evaluate_terms(loss, stylizer.stylize(photo)[None], photo[None])
        row = {"photo": path.name, "content": terms["content"], "style": terms["style"]}
        if gatys_steps:
            _, g = paint(photo, painting, features, steps=gatys_steps, weights=weights, progress=False)
            row.update(gatys_content=g["content"], gatys_style=g["style"])
        rows.append(row)
    return rows


def mean_row(rows):
    keys = [k for k in rows[0] if k != "photo"]
    return {"photo": "mean", **{k: float(np.mean([r[k] for r in rows])) for k in keys}}
