"""Reduced-precision inference: which precisions this hardware computes natively, the same
network in another precision, and the quality criterion (PSNR against float32's output)."""
from __future__ import annotations

import hashlib
import math

import numpy as np

from .hardware import cpu_flags, gpu_info, native_bfloat16, uses_gpu

PRECISIONS = ("float32", "bfloat16", "float16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
MIN_PSNR_DB = 40.0
REDUCED_MARGIN = 0.95   # a reduced precision must be at least 5% faster than float32 to be chosen


def precision_unsupported(precision: str, gpu: bool | None = None) -> str | None:
    """None where the hardware does ``precision`` math natively, else the reason it does not."""
    if precision == "float32":
        return None
    if precision not in PRECISIONS:
        return f"unknown precision {precision!r}"
    if gpu is None:
        gpu = uses_gpu()
    if gpu:
        if precision == "bfloat16":
            caps = [g.get("compute_capability") for g in gpu_info()]
            known = [float(c) for c in caps if c and str(c).replace(".", "", 1).isdigit()]
            if known and min(known) < 8.0:
                return f"this GPU (compute capability {min(known)}) has no fast bfloat16 (needs 8.0)"
        return None
    flags = cpu_flags()
    if precision == "bfloat16":
        if native_bfloat16():
            return None
        return ("this CPU has no avx512_bf16 or amx_bf16: bfloat16 math would be emulated, "
                "slower than float32")
    if flags & {"avx512_fp16", "amx_fp16"}:
        return None
    return "this CPU has no avx512_fp16 or amx_fp16: float16 math would be emulated, slower than float32"


def inference_net(net, precision: str = "float32"):
    """The same network (same weights) computing in ``precision``: float32 returns ``net``;
    bfloat16 and float16 build a copy under the Keras mixed policy (weights stay float32,
    convolutions run in the reduced type, normalisation statistics and the output in float32).

    Shared by bench and, later, the stylizer, live and convert.
    """
    from .network import build_transform_net

    if precision not in POLICIES:
        raise ValueError(f"unknown precision {precision!r}")
    if precision == "float32" and net.dtype_policy.name == "float32":
        return net
    copy = build_transform_net(metadata=net.metadata, dtype=POLICIES[precision], **net.design)
    copy.set_weights(net.get_weights())
    return copy



def test_frame(height: int = 144, width: int = 256, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGB frame: smooth gradients, hard edges, fine texture."""
    import cv2
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1),
                    127.5 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)], axis=-1)
    for _ in range(6):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(2, min(height, width) // 12), max(3, min(height, width) // 3)))
        cv2.circle(img, (cx, cy), r, c, -1)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (3, 3), 0)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def quality_psnr(reference_net, reduced_net, frame: np.ndarray | None = None) -> float:
    """PSNR of ``reduced_net``'s output against ``reference_net``'s (float32) on ``frame``."""
    from .stylizer import Stylizer
    frame = test_frame() if frame is None else frame
    return psnr(Stylizer(reference_net)(frame), Stylizer(reduced_net)(frame))


def measure_precisions(nets: dict) -> dict:
    """Best seconds per 640x360 test frame of each precision's network (on its faster engine),
    timed in alternation so that load on a shared machine slows them alike."""
    from .engine import interleaved_best_seconds
    from .stylizer import Stylizer
    runs = {p: Stylizer(n, engine="auto").stylize_batch for p, n in nets.items()}
    return interleaved_best_seconds(runs, test_frame(360, 640)[None], rounds=5)


def weights_digest(net) -> str:
    h = hashlib.sha256()
    for w in net.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]


def auto_precision(net, min_psnr: float = MIN_PSNR_DB) -> str:
    """The fastest precision here whose output stays within ``min_psnr`` dB of float32's on a
    test frame: a reduced one only where the hardware computes it natively and it beats float32
    by REDUCED_MARGIN. Native is not enough: on an AMX Xeon bfloat16 ran the full network
    1.4-1.8x faster but the fast one 30-40% slower. Measured once per machine and network
    (weights: the quality check depends on them) and cached, so later runs start seconds sooner."""
    native = [p for p in ("bfloat16", "float16") if precision_unsupported(p) is None]
    if not native:
        return "float32"

    def measure():
        nets, quality = {"float32": net}, {}
        for precision in native:
            try:
                reduced = inference_net(net, precision)
                quality[precision] = quality_psnr(net, reduced)
            except Exception:  # a backend without the kernels: fall back
                continue
            if quality[precision] >= min_psnr:
                nets[precision] = reduced
        if len(nets) == 1:
            return {"precision": "float32", "psnr": quality}
        seconds = measure_precisions(nets)
        fastest = min((p for p in nets if p != "float32"), key=seconds.get)
        choice = fastest if seconds[fastest] < REDUCED_MARGIN * seconds["float32"] else "float32"
        return {"precision": choice, "seconds": seconds, "psnr": quality}

    from .engine import cache_key, remembered
    key = cache_key(net, f"precision:{weights_digest(net)}:{min_psnr}")
    return remembered(key, lambda e: e.get("precision") in PRECISIONS, measure,
                      " vs ".join(["float32", *native]))["precision"]
