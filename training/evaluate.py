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


# ---------------------------------------------------------------- `stylecam evaluate`


def evaluate_model(
    model,
    videos=(),
    stills=None,
    style_image=None,
    max_frames=None,
    max_size=None,
    size=256,
    vgg_weights=None,
    batch=4,
    log=None,
) -> dict:
    """The report of ``stylecam evaluate``: E_warp per video (input, stylized, ratio) and the
    mean content/style losses over a folder of stills. ``model``: a .keras path or a
    bundled style name. Problems the user can fix raise UserError before any work starts.
    """
    from stylecam.errors import UserError
    from stylecam.styles import resolve_style
    from stylecam.stylize import StyleProcessor, load_stylizer

    from .vgg import VGGWeightsError
    from .warping_error import FLOW_METHOD, video_warping_errors

    model_path = resolve_style(model)
    videos = [Path(v) for v in videos]
    if not videos and stills is None:
        raise UserError("nothing to evaluate: give --video and/or --stills")
    for v in videos:
        if not v.is_file():
            raise UserError(f"video not found: {v}")
    if stills is not None:
        if not Path(stills).is_dir():
            raise UserError(f"stills folder not found: {stills}")
        if style_image is None:
            raise UserError("--stills needs --style-image (the painting the model was trained on)")
        if not Path(style_image).is_file():
            raise UserError(f"style image not found: {style_image}")
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in Path(stills).iterdir()):
            raise UserError(f"no photos in {stills}")
    log = log or (lambda m: None)
    report = {"model": str(model_path), "flow": FLOW_METHOD, "videos": [], "stills": None}
    if videos:
        processor = StyleProcessor(load_stylizer(str(model_path)))
        for v in videos:
            log(f"measuring {v} ...")
            r = video_warping_errors(processor, v, max_frames, max_size, batch)
            if r.frames < 2:
                raise UserError(f"{v}: E_warp needs at least 2 frames, it has {r.frames}")
            e_in, e_out = r.errors["input"], r.errors["stylized"]
            report["videos"].append(
                {
                    "video": str(v),
                    "frames": r.frames,
                    "width": r.size[0],
                    "height": r.size[1],
                    "pairs": r.pairs,
                    "skipped_pairs": r.skipped,
                    "mask_coverage": r.coverage,
                    "ewarp_input": e_in,
                    "ewarp_stylized": e_out,
                    "ratio": r.ratio("stylized"),
                }
            )
    if stills is not None:
        log(f"measuring stills in {stills} ...")
        try:
            rows = still_losses(model_path, style_image, stills, size, 0, vgg_weights)
        except (ValueError, VGGWeightsError) as e:
            raise UserError(str(e)) from None
        report["stills"] = {"style_image": str(style_image), "size": size, "photos": rows, "mean": mean_row(rows)}
    return report


def format_report(report: dict) -> str:
    """The on-screen tables of an ``evaluate_model`` report."""
    lines = [f"model {report['model']}"]
    if report["videos"]:
        rows = [("VIDEO", "FRAMES", "SIZE", "MASK", "E_WARP INPUT", "E_WARP STYLIZED", "RATIO")]
        for v in report["videos"]:
            rows.append(
                (
                    Path(v["video"]).name,
                    str(v["frames"]),
                    f"{v['width']}x{v['height']}",
                    f"{v['mask_coverage']:.0%}",
                    f"{v['ewarp_input']:.4g}",
                    f"{v['ewarp_stylized']:.4g}",
                    f"{v['ratio']:.3g}",
                )
            )
        lines += ["", *_table(rows)]
    if report["stills"]:
        s = report["stills"]
        rows = [("PHOTO", "CONTENT", "STYLE")]
        rows += [(r["photo"], f"{r['content']:.4g}", f"{r['style']:.4g}") for r in s["photos"] + [s["mean"]]]
        lines += ["", f"stills at {s['size']} px against {s['style_image']}", *_table(rows)]
    return "\n".join(lines)


def _table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def json_safe(obj):
    """nan/inf -> None so the report is strict JSON."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
