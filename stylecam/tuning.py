"""What stylecam measures once per machine and network, and remembers: the compiler (TensorFlow's
graph executor or XLA) and the precision (float32, bfloat16, float16) that run it fastest here.

Neither choice wins everywhere, so both are timed in alternation on a test frame the first time
and kept in ``$STYLECAM_CACHE/engines.json``. A reduced precision is used only where the hardware
computes it natively, its output stays within MIN_PSNR_DB of float32's and it is faster.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)
from .atomic import atomic_output
from .hardware import cpu_flags, cpu_model, gpu_info, native_bfloat16, uses_gpu
from .network import same_network
from .stylizer import ENGINES, Stylizer, compile_fn, interleaved_best_seconds

PRECISIONS = ("float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
MIN_PSNR_DB = 40.0
MARGIN = 0.95  # XLA or a reduced precision must be at least 5% faster to be chosen


def cache_dir() -> Path:
    """``$STYLECAM_CACHE``, else ``$XDG_CACHE_HOME/stylecam``, else ``~/.cache/stylecam``."""
    root = (
        os.environ.get("STYLECAM_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stylecam"
    )
    return Path(root)


def cache_path() -> Path:
    return cache_dir() / "engines.json"


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    from . import layers, network

    # The networks' code too: a rewritten layer must be measured again.
    code = hashlib.sha256(Path(network.__file__).read_bytes() + Path(layers.__file__).read_bytes()).hexdigest()[:16]
    return {
        "cpu": cpu_model(),
        "gpu": [g.get("name") for g in gpu_info()],
        "backend": keras.backend.backend(),
        "keras": keras.version(),
        "network_code": code,
    }


def cache_key(net, choice: str) -> str:
    return json.dumps(
        {**_machine(), "design": net.design, "dtype": net.dtype_policy.name, "choice": choice}, sort_keys=True
    )


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def remembered(key: str, valid: Callable[[dict], bool], measure: Callable[[], dict], what: str) -> dict:
    """The cache entry for ``key`` if ``valid``; otherwise ``measure()``, stored for next time.
    ``what`` is said on stderr, since a first run pauses for it."""
    path = cache_path()
    known = _read_cache(path)
    if key in known and valid(known[key]):
        return known[key]
    print(f"timing {what} (once; remembered in {path})", file=sys.stderr)
    entry = measure()
    known = {**_read_cache(path), key: entry}  # read again: the measurement may have stored entries
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(known, indent=1))
    except OSError:
        pass  # a read-only home: measure again next time
    return entry


def test_frame(height: int = 144, width: int = 256, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGB frame: smooth gradients, hard edges, fine texture."""
    import cv2

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack(
        [255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1), 127.5 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)],
        axis=-1,
    )
    for _ in range(6):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(2, min(height, width) // 12), max(3, min(height, width) // 3)))
        cv2.circle(img, (cx, cy), r, c, -1)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (3, 3), 0)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the engine


def choose_engine(net) -> str:
    """The faster engine for ``net`` here, measured once (under JAX, jax.jit is XLA)."""
    if keras.backend.backend() != "tensorflow":
        return "xla"
    forward = Stylizer(net).forward

    def measure():
        frame = test_frame(180, 320)[None]
        seconds = interleaved_best_seconds({e: compile_fn(forward, e) for e in ENGINES}, frame)
        return {"engine": "xla" if seconds["xla"] < MARGIN * seconds["graph"] else "graph", "seconds": seconds}

    entry = remembered(
        cache_key(net, "engine"),
        lambda e: e.get("engine") in ENGINES,
        measure,
        f"graph executor vs XLA, {net.dtype_policy.name}",
    )
    return entry["engine"]


def tuned_stylizer(net) -> Stylizer:
    """``net`` compiled by the engine that runs it fastest here."""
    return Stylizer(net, choose_engine(net))


# ---------------------------------------------------------------- the precision


def precision_unsupported(precision: str, gpu: bool | None = None) -> str | None:
    """None where the hardware does ``precision`` math natively, else the reason it does not."""
    if precision == "float32":
        return None
    if precision not in PRECISIONS:
        return f"unknown precision {precision!r}"
    if uses_gpu() if gpu is None else gpu:
        if precision == "bfloat16":
            caps = [g.get("compute_capability") for g in gpu_info()]
            known = [float(c) for c in caps if c and str(c).replace(".", "", 1).isdigit()]
            if known and min(known) < 8.0:
                return f"this GPU (compute capability {min(known)}) has no fast bfloat16 (needs 8.0)"
        return None
    if precision == "bfloat16":
        if native_bfloat16():
            return None
        return "this CPU has no avx512_bf16 or amx_bf16: bfloat16 math would be emulated, slower than float32"
    if cpu_flags() & {"avx512_fp16", "amx_fp16"}:
        return None
    return "this CPU has no avx512_fp16 or amx_fp16: float16 math would be emulated, slower than float32"


def inference_net(net, precision: str = "float32"):
    """The same network and weights computing in ``precision`` (Keras mixed policy: weights
    float32, convolutions in the reduced type, normalisation statistics and output in float32)."""
    if precision not in POLICIES:
        raise ValueError(f"unknown precision {precision!r}")
    if precision == "float32" and net.dtype_policy.name == "float32":
        return net
    return same_network(net, POLICIES[precision])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def quality_psnr(reference_net, reduced_net, frame: np.ndarray | None = None) -> float:
    """PSNR of ``reduced_net``'s output against ``reference_net``'s (float32) on ``frame``."""
    frame = test_frame() if frame is None else frame
    return psnr(Stylizer(reference_net)(frame), Stylizer(reduced_net)(frame))


def weights_digest(net) -> str:
    h = hashlib.sha256()
    for w in net.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]


def measure_precisions(nets: dict) -> dict:
    """Best seconds per 640x360 test frame of each precision's network (on its faster engine),
    timed in alternation."""
    runs = {p: tuned_stylizer(n).stylize_batch for p, n in nets.items()}
    return interleaved_best_seconds(runs, test_frame(360, 640)[None], rounds=5)


def auto_precision(net, min_psnr: float = MIN_PSNR_DB) -> str:
    """The fastest precision here whose output stays within ``min_psnr`` dB of float32's on a test
    frame; a reduced one only where the hardware computes it natively and it beats float32 by
    MARGIN (native is not enough: it can run a small network slower)."""
    native = [p for p in ("bfloat16", "float16") if precision_unsupported(p) is None]
    if not native:
        return "float32"

    def measure():
        nets, quality = {"float32": net}, {}
        for precision in native:
            try:
                reduced = inference_net(net, precision)
                quality[precision] = quality_psnr(net, reduced)
            except Exception:  # noqa: BLE001 - a backend without the kernels: not a candidate
                continue
            if quality[precision] >= min_psnr:
                nets[precision] = reduced
        if len(nets) == 1:
            return {"precision": "float32", "psnr": quality}
        seconds = measure_precisions(nets)
        fastest = min((p for p in nets if p != "float32"), key=seconds.get)
        choice = fastest if seconds[fastest] < MARGIN * seconds["float32"] else "float32"
        return {"precision": choice, "seconds": seconds, "psnr": quality}

    key = cache_key(net, f"precision:{weights_digest(net)}:{min_psnr}")
    entry = remembered(key, lambda e: e.get("precision") in PRECISIONS, measure, " vs ".join(["float32", *native]))
    return entry["precision"]
