"""`stylecam bench`: how fast a style network runs here, alone and in the whole pipeline.

For each style (or untrained architecture), precision, frame size and batch size it measures

* the network alone: uint8 frames in, uint8 frames out through ``Stylizer.stylize_batch``
  (the casts, clip and rounding included), first call (tracing and compiling) and warm-up
  reported apart from the repeated, timed runs (median, min and max FPS, ms per frame);
* the whole pipeline: a generated (or given) H.264 clip decoded, stylized and encoded again
  by ``convert.convert_video`` (the same code as ``stylecam convert``, default encoder
  settings), frames per second over the whole file;
* FLOPs per frame counted from the network's layers (``stylecam.flops``), the GFLOP/s that
  achieves, and the fraction of this machine's peak, measured in the same run by a large
  compiled ``keras.ops.matmul`` in the same precision.

Precisions other than float32 run as Keras mixed policies (``mixed_bfloat16``,
``mixed_float16``: weights float32, math in the reduced type). They are measured only where
the hardware does that math natively (else reported as skipped with the reason; ``emulated``
measures them anyway), and their output is compared with float32's: the quality criterion is
PSNR >= ``MIN_PSNR_DB`` (40 dB) on a test frame. ``recommend`` applies the rules of
``--precision auto`` (stylecam.tuning.auto_precision: native, criterion met, and at least 5%
faster than float32) to the measurements and otherwise says float32.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bench_report import FLAGS_SHOWN
from .errors import UserError
from .hardware import backend, cpu_flags, cpu_model, gpu_info, native_bfloat16, select_device, uses_gpu
from .stylizer import Stylizer, best_seconds, compile_fn
from .tuning import (
    MARGIN,
    MIN_PSNR_DB,
    PRECISIONS,
    choose_engine,
    inference_net,
    precision_unsupported,
    quality_psnr,
    test_frame,
)

DEFAULT_SIZES = "640x360,1280x720"
UNTRAINED = "untrained"  # untrained[-WIDTH[xBLOCKS]]: Johnson et al. is width 32, 5 blocks


# ---------------------------------------------------------------- options


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'640x360,1280x720' -> [(640, 360), (1280, 720)] (width, height)."""
    sizes = []
    for item in _items(text):
        try:
            w, h = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise UserError(f"--size: {item!r} is not WIDTHxHEIGHT (e.g. 640x360)") from None
        if w < 8 or h < 8:
            raise UserError(f"--size: {item} is too small (8x8 at least)")
        sizes.append((w, h))
    if not sizes:
        raise UserError("--size: give at least one WIDTHxHEIGHT")
    return sizes


def parse_batches(text: str) -> list[int]:
    try:
        batches = [int(v) for v in _items(text)]
    except ValueError:
        raise UserError(f"--batch: {text!r} is not a list of whole numbers (e.g. 1,4)") from None
    if not batches or min(batches) < 1:
        raise UserError("--batch: batch sizes are whole numbers >= 1")
    return batches


def parse_precisions(text: str) -> list[str]:
    out = []
    for p in _items(text):
        p = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(p.lower(), p.lower())
        if p not in PRECISIONS:
            raise UserError(f"--precision: {p!r} is not one of {', '.join(PRECISIONS)}")
        out.append(p)
    if not out:
        raise UserError("--precision: give at least one of " + ", ".join(PRECISIONS))
    return out


def _items(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


@dataclass
class BenchConfig:
    sizes: list = field(default_factory=lambda: parse_sizes(DEFAULT_SIZES))  # (width, height)
    batches: list = field(default_factory=lambda: [1])
    precisions: list = field(default_factory=lambda: list(PRECISIONS))
    styles: list = field(default_factory=lambda: [None])  # None: the untrained full network
    repeats: int = 5
    warmup: int = 1
    pipeline: bool = True
    pipeline_frames: int = 16
    video: str | None = None  # a given clip for the pipeline (else a generated one)
    emulated: bool = False  # measure precisions the hardware only emulates
    min_psnr: float = MIN_PSNR_DB
    peak: bool = True
    peak_max_n: int | None = None  # largest matmul side for the peak (default 4096 CPU, 16384 GPU)
    threads: int = 0  # TensorFlow intra-op threads; 0 = its default
    device: str = "auto"
    progress: bool = True
    engines: list = field(default_factory=lambda: ["auto"])  # graph, xla, auto (stylecam.tuning)
    encoder: str = "libx264"  # the whole pipeline's (stylecam.video_io.ENCODERS)

    @classmethod
    def from_options(
        cls, size=DEFAULT_SIZES, batch="1", precision=",".join(PRECISIONS), style=None, **kw
    ) -> BenchConfig:
        styles = list(style or []) or [None]  # repeatable; not split on commas
        engines = _items(kw.pop("engine", "auto"))
        if not engines or any(e not in ("auto", "graph", "xla") for e in engines):
            raise UserError("--engine: use auto, graph or xla (comma-separated)")
        cfg = cls(parse_sizes(size), parse_batches(batch), parse_precisions(precision), styles, **kw)
        cfg.engines = engines
        if cfg.repeats < 1 or cfg.warmup < 0 or cfg.pipeline_frames < 1:
            raise UserError("--repeats and --frames must be >= 1, --warmup >= 0")
        from .video_io import EncodeSettings

        if cfg.pipeline:
            EncodeSettings(encoder=cfg.encoder).check()  # a bad --encoder fails now
        if cfg.video is not None and not Path(cfg.video).is_file():
            raise UserError(f"--video: not found: {cfg.video}")
        return cfg


# ---------------------------------------------------------------- the machine


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def thread_settings() -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "usable_cpus": usable,
        "logical_cpus": os.cpu_count(),
        "env": {
            k: os.environ[k]
            for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS")
            if k in os.environ
        },
    }
    if backend() == "tensorflow":
        import tensorflow as tf

        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        for key, set_value, var in (
            ("intra_op", intra, "TF_NUM_INTRAOP_THREADS"),
            ("inter_op", inter, "TF_NUM_INTEROP_THREADS"),
        ):
            env = os.environ.get(var, "")
            if set_value:
                info[key], info[f"{key}_from"] = set_value, "--threads"
            elif env.isdigit() and int(env):
                info[key], info[f"{key}_from"] = int(env), var
            else:  # TensorFlow's default: one thread per usable CPU
                info[key], info[f"{key}_from"] = usable, "default"
    return info


def machine_report() -> dict:
    import keras

    flags = cpu_flags()
    return {
        "cpu_model": cpu_model(),
        "cpu_flags": {f: f in flags for f in FLAGS_SHOWN},
        "native_bfloat16": native_bfloat16(),
        "threads": thread_settings(),
        "gpus": gpu_info(),
        "uses_gpu": uses_gpu(),
        "backend": backend(),
        "versions": {
            "python": platform.python_version(),
            "keras": keras.__version__,
            "tensorflow": _version("tensorflow"),
            "jax": _version("jax"),
            "numpy": np.__version__,
            "stylecam": _version("stylecam"),
        },
        "platform": platform.platform(),
    }


def fast_jax_init() -> None:
    """Under JAX, turn off partitionable threefry random numbers: creating a network's variables
    then compiles several times faster on a CPU. Only the random initial values change; a model
    file's weights replace them anyway. Call before building."""
    if backend() == "jax":
        import jax

        jax.config.update("jax_threefry_partitionable", False)


def configure(device: str = "auto", threads: int = 0) -> None:
    """Device and thread settings; call before the first tensor is made."""
    fast_jax_init()
    select_device(device)
    if backend() != "tensorflow":
        return
    import tensorflow as tf

    # A fresh Stylizer per case is deliberate (compile time measured each time): quiet
    # TensorFlow's warning about retracing.
    tf.get_logger().setLevel("ERROR")
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        except RuntimeError as e:  # the runtime already started
            raise UserError(f"--threads must be set before TensorFlow starts ({e})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


# ---------------------------------------------------------------- peak


def measure_peak(precision: str = "float32", target_s: float = 0.1, max_n: int | None = None, repeats: int = 3) -> dict:
    """Achieved GFLOP/s of a compiled square ``keras.ops.matmul`` in ``precision``: the matrix
    grows (from 256, doubling) until one product takes ``target_s`` or reaches ``max_n``."""
    from keras import ops

    max_n = max_n or (16384 if uses_gpu() else 4096)
    fn = compile_fn(lambda a, b: ops.sum(ops.cast(ops.matmul(a, b), "float32")), "graph")
    rng = np.random.default_rng(0)
    n, compile_s = 256, 0.0
    while True:
        a = ops.cast(ops.convert_to_tensor(rng.uniform(-1, 1, (n, n)).astype(np.float32)), precision)
        b = ops.cast(ops.convert_to_tensor(rng.uniform(-1, 1, (n, n)).astype(np.float32)), precision)
        t = time.perf_counter()
        ops.convert_to_numpy(fn(a, b))  # compile (and run) at this size
        compile_s += time.perf_counter() - t
        t = best_seconds(lambda a=a, b=b: ops.convert_to_numpy(fn(a, b)), 1)
        if t >= target_s or n >= max_n:
            break
        n *= 2
    best = min(t, best_seconds(lambda: ops.convert_to_numpy(fn(a, b)), repeats))
    return {"precision": precision, "n": n, "seconds": best, "gflops": 2 * n**3 / best / 1e9}


# ---------------------------------------------------------------- networks and videos


def load_bench_net(style: str | None):
    """(label, float32 network) for a bundled style, a model file, or an untrained network:
    ``untrained`` (the full design), ``untrained-fast``, or ``untrained-WIDTH[xBLOCKS]``
    (the full design with other sizes)."""
    from .network import DESIGNS, build_network

    if style is None or style.split("-")[0] == UNTRAINED:
        spec = "" if style is None else style[len(UNTRAINED) :].lstrip("-")
        if spec in DESIGNS:
            return f"{UNTRAINED}-{spec}", build_network(spec)
        try:
            parts = [int(v) for v in spec.lower().split("x")] if spec else [32, 5]
            width, blocks = parts[0], (parts[1] if len(parts) > 1 else 5)
        except (ValueError, IndexError):
            raise UserError(f"--style {style}: use untrained, untrained-fast or untrained-WIDTH[xBLOCKS]") from None
        return f"{UNTRAINED}-{width}x{blocks}", build_network("full", width=width, residual_blocks=blocks)
    from .modelfile import load_model
    from .styles import resolve_style

    path = resolve_style(style)
    return Path(style).stem if path.name != f"{style}.keras" else style, load_model(path)


def make_video(path, width: int, height: int, frames: int, fps: int = 30, source=None) -> Path:
    """An H.264 clip of ``frames`` frames: ffmpeg's testsrc2 pattern, or ``source`` scaled."""
    from .video_io import ffmpeg_exe

    pix = "yuv444p" if width % 2 or height % 2 else "yuv420p"
    if source is None:
        inp = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
        vf = []
    else:
        inp = ["-i", str(source)]
        vf = ["-vf", f"scale={width}:{height}"]
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        *inp,
        *vf,
        "-frames:v",
        str(frames),
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-pix_fmt",
        pix,
        str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"could not make the benchmark clip: {proc.stderr.strip()[:200]}")
    return Path(path)


# ---------------------------------------------------------------- measurements


def _stats(seconds: list[float], batch: int) -> dict:
    fps = [batch / s for s in seconds]
    med = statistics.median(fps)
    return {
        "fps_median": med,
        "fps_min": min(fps),
        "fps_max": max(fps),
        "ms_per_frame_median": 1e3 / med,
        "ms_per_frame_min": 1e3 / max(fps),
        "ms_per_frame_max": 1e3 / min(fps),
        "runs": len(seconds),
        "run_seconds": seconds,
    }


def bench_network(stylizer, width: int, height: int, batch: int, repeats: int = 5, warmup: int = 1) -> dict:
    """The network alone on uint8 frames: first call (compile), warm-up, then timed runs."""
    frame = test_frame(height, width)
    frames = np.repeat(frame[None], batch, axis=0)
    t = time.perf_counter()
    out = stylizer.stylize_batch(frames)
    compile_s = time.perf_counter() - t
    if out.shape != frames.shape or out.dtype != np.uint8:
        raise RuntimeError(f"stylizer returned {out.shape} {out.dtype} for {frames.shape} uint8")
    t = time.perf_counter()
    for _ in range(warmup):
        stylizer.stylize_batch(frames)
    warmup_s = time.perf_counter() - t
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        stylizer.stylize_batch(frames)
        runs.append(time.perf_counter() - t)
    return {"compile_s": compile_s, "warmup_s": warmup_s, "warmup_runs": warmup, **_stats(runs, batch)}


def bench_pipeline(stylizer, video: Path, batch: int, workdir: Path, encoder: str = "libx264") -> dict:
    """Decode -> stylize -> encode ``video`` with ``stylecam convert``'s code and settings."""
    from .convert import convert_video
    from .stylize import StyleProcessor
    from .video_io import EncodeSettings

    out = Path(workdir) / f"out-{video.stem}-b{batch}.mp4"
    if out.exists():
        out.unlink()
    summary = convert_video(
        video, out, StyleProcessor(stylizer), batch=batch, settings=EncodeSettings(encoder=encoder), progress=False
    )
    t = summary.times
    return {
        "fps": summary.fps,
        "frames": summary.frames,
        "seconds": summary.seconds,
        "busy_s": {"decode": t.source, "network": t.network, "encode": t.sink},
        "encoder": f"{encoder} crf 18 preset medium (stylecam convert's defaults)",
    }


# ---------------------------------------------------------------- the whole run


def run_bench(cfg: BenchConfig) -> dict:
    """Measure everything ``cfg`` asks for; returns the report (JSON-able)."""
    from .flops import COUNTED, count_flops

    started = time.perf_counter()
    configure(cfg.device, cfg.threads)
    report = {
        "stylecam_bench": 1,
        "config": _config_dict(cfg),
        "machine": machine_report(),
        "flops_counted": COUNTED,
        "quality_criterion": f"PSNR of the output against float32's on a 256x144 test frame >= {cfg.min_psnr:g} dB",
        "peak": {},
        "results": [],
    }
    gpu = report["machine"]["uses_gpu"]
    combos = len(cfg.sizes) * len(cfg.batches) * len(cfg.engines)
    bar = _bar(len(cfg.styles) * len(cfg.precisions) * combos, cfg.progress)
    videos: dict = {}
    try:
        with tempfile.TemporaryDirectory(prefix="stylecam-bench-") as tmp:
            for style in cfg.styles:
                label, base = load_bench_net(style)
                arch = {**base.design, "params": int(base.count_params())}
                for precision in cfg.precisions:
                    rows = [
                        {"style": label, "arch": arch, "precision": precision, "size": [w, h], "batch": b, "engine": e}
                        for (w, h) in cfg.sizes
                        for b in cfg.batches
                        for e in cfg.engines
                    ]
                    why = precision_unsupported(precision, gpu)
                    net, q = None, None
                    if why and not cfg.emulated:
                        skip = why
                    else:
                        skip = None
                        try:
                            net = inference_net(base, precision)
                            if precision != "float32":
                                q = quality_psnr(base, net)
                        except Exception as e:  # noqa: BLE001
                            skip = f"cannot run in {precision}: {_first_line(e)}"
                    for row in rows:
                        bar.set_description_str(
                            f"{label} {precision} {row['size'][0]}x{row['size'][1]} batch {row['batch']}"
                        )
                        if skip:
                            row.update(status="skipped", reason=skip)
                        else:
                            engine = choose_engine(net) if row["engine"] == "auto" else row["engine"]
                            stylizer = Stylizer(net, engine)
                            row["engine"] = stylizer.engine
                            row.update(
                                _measure(
                                    cfg,
                                    report,
                                    stylizer,
                                    row,
                                    precision,
                                    q,
                                    why,
                                    videos,
                                    Path(tmp),
                                    count_flops(base, row["size"][1], row["size"][0]),
                                    bar,
                                )
                            )
                        report["results"].append(row)
                        bar.update(1)
    finally:
        bar.close()
    report["recommended"] = recommend(report["results"])
    report["total_s"] = time.perf_counter() - started
    return report


def recommend(results: list[dict]) -> dict:
    """Per style, the precision ``--precision auto``'s rules pick from these measurements: the
    fastest (median network FPS, summed over sizes and batches) of those measured natively that
    meet the quality criterion, if it beats float32 by MARGIN; float32 otherwise."""
    out = {}
    for style in dict.fromkeys(r["style"] for r in results):
        speed: dict = {}
        for r in results:
            if r["style"] != style or r["status"] != "ok":
                continue
            if r["precision"] != "float32" and (not r.get("quality_ok") or r.get("note")):
                continue
            speed[r["precision"]] = speed.get(r["precision"], 0.0) + r["network"]["fps_median"]
        reduced = [p for p in speed if p != "float32"]
        best = max(reduced, key=speed.get) if reduced else "float32"
        if best != "float32" and "float32" in speed and speed[best] * MARGIN <= speed["float32"]:
            best = "float32"
        out[style] = best
    return out


def _measure(cfg, report, stylizer, row, precision, q, why, videos, tmp: Path, flops, bar=None) -> dict:
    (w, h), batch = row["size"], row["batch"]
    out = {"status": "ok", "gflop_per_frame": flops.gflop}
    if why:
        out["note"] = f"measured although {why}"
    if q is not None:
        out["psnr_vs_float32_db"] = None if math.isinf(q) else q
        out["quality_ok"] = q >= cfg.min_psnr
        if not out["quality_ok"]:
            out["note"] = (
                out.get("note", "") + "; " if out.get("note") else ""
            ) + f"fails the quality criterion (PSNR {q:.1f} dB < {cfg.min_psnr:g}): would fall back to float32"
    try:
        net = bench_network(stylizer, w, h, batch, cfg.repeats, cfg.warmup)
    except Exception as e:  # noqa: BLE001 - e.g. a kernel missing for this precision
        return {"status": "skipped", "reason": f"failed to run: {_first_line(e)}"}
    out["compile_s"], out["warmup_s"] = net.pop("compile_s"), net.pop("warmup_s")
    out["network"] = net
    out["gflops"] = flops.gflop * net["fps_median"]
    if cfg.peak:
        if precision not in report["peak"]:
            if bar is not None:
                bar.set_description_str(f"peak matmul {precision}")
            try:
                report["peak"][precision] = measure_peak(precision, max_n=cfg.peak_max_n)
            except Exception as e:  # noqa: BLE001
                report["peak"][precision] = {"precision": precision, "error": _first_line(e), "gflops": None}
        peak = report["peak"][precision].get("gflops")
        out["fraction_of_peak"] = out["gflops"] / peak if peak else None
    if cfg.pipeline:
        frames = _pipeline_frames(cfg.pipeline_frames, cfg.batches)
        key = (w, h, frames)
        if key not in videos:
            videos[key] = make_video(tmp / f"clip-{w}x{h}-{frames}.mp4", w, h, frames, source=cfg.video)
        try:
            pipe = bench_pipeline(stylizer, videos[key], batch, tmp, cfg.encoder)
            pipe["ratio_to_network"] = pipe["fps"] / net["fps_median"]
            out["pipeline"] = pipe
        except Exception as e:  # noqa: BLE001
            out["pipeline"] = {"error": _first_line(e)}
    return out


def _pipeline_frames(frames: int, batches: list[int]) -> int:
    """At least ``frames``, a multiple of every batch size where that stays small (so no
    partial last batch makes the compiled function trace a new shape mid-measurement)."""
    lcm = math.lcm(*batches)
    if lcm > 4 * max(frames, max(batches)):
        lcm = max(batches)
    return lcm * math.ceil(frames / lcm)


def _config_dict(cfg: BenchConfig) -> dict:
    d = {k: v for k, v in cfg.__dict__.items() if k != "progress"}
    d["sizes"] = [f"{w}x{h}" for w, h in cfg.sizes]
    d["styles"] = [s or f"{UNTRAINED}-32x5" for s in cfg.styles]
    return d


def _bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, unit="case", dynamic_ncols=True, leave=False, file=sys.stderr, disable=None if enabled else True
    )  # None: off when stderr is not a terminal
