"""The `stylecam` command: a thin Typer layer over the library."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import typer

from .errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural style transfer for video files and webcams.")
_state = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")):
    _state["debug"] = debug


def run():
    """Console entry point: user errors become one line and exit status 2."""
    try:
        app(standalone_mode=True)
    except UserError as e:
        if _state["debug"]:
            raise
        print(f"stylecam: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("stylecam: interrupted", file=sys.stderr)
        sys.exit(130)


@app.command()
def train(
    style_image: Path = typer.Argument(..., help="The painting to learn."),
    content: Path = typer.Option(..., "--content", help="Folder of training photos."),
    name: str = typer.Option(..., "--name", help="Style name, e.g. starry-night."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Model file (default NAME.keras)."),
    workdir: Optional[Path] = typer.Option(None, help="Checkpoints, TensorBoard logs, previews (default runs/NAME)."),
    steps: int = typer.Option(4000, help="Training steps (a multiple of --checkpoint-every)."),
    size: int = typer.Option(256, help="Training crop size in pixels."),
    batch: int = typer.Option(4, help="Photos per step."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    style_size: int = typer.Option(512, help="Long side of the painting when its style is measured."),
    content_weight: float = typer.Option(1.0),
    style_weight: float = typer.Option(10.0),
    tv_weight: float = typer.Option(1.0),
    width: int = typer.Option(32, help="Channels of the first stage (32 = Johnson et al.)."),
    precision: str = typer.Option("auto", help="float32, bfloat16 or auto (bfloat16 where native)."),
    checkpoint_every: int = typer.Option(100, help="Steps between checkpoints."),
    seed: int = typer.Option(0),
    vgg_weights: Optional[Path] = typer.Option(None, help="VGG16 weights file (.npz, .h5, .onnx, .whl)."),
    title: str = typer.Option("", help="Painting title, for `stylecam styles`."),
    artist: str = typer.Option("", help="Painter, for `stylecam styles`."),
):
    """Train a fast style network for one painting (resumes from its checkpoint)."""
    for p, what in [(style_image, "style image"), (content, "content folder")]:
        if not p.exists():
            raise UserError(f"{what} not found: {p}")
    if steps <= 0 or steps % checkpoint_every:
        raise UserError("--steps must be a positive multiple of --checkpoint-every")
    if precision not in ("auto", "float32", "bfloat16"):
        raise UserError("--precision must be float32, bfloat16 or auto")
    from training.losses import LossWeights
    from training.train import TrainConfig, train as run_training

    cfg = TrainConfig(str(style_image), str(content), name, str(output) if output else None,
                      str(workdir) if workdir else None, size, batch, steps, lr, style_size,
                      LossWeights(content_weight, style_weight, tv_weight), width, precision,
                      checkpoint_every, seed=seed, vgg_weights=str(vgg_weights) if vgg_weights else None,
                      title=title, artist=artist)
    summary = run_training(cfg)
    typer.echo(f"wrote {summary['model']} (preview {summary['preview']}); final losses "
               + ", ".join(f"{k} {v:.4g}" for k, v in summary["final_losses"].items()))


if __name__ == "__main__":
    run()
