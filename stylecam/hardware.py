"""What the machine can do: CPU flags, GPUs."""
from __future__ import annotations

import functools
import platform
import shutil
import subprocess
from pathlib import Path


@functools.cache
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def native_bfloat16() -> bool:
    """True where bfloat16 math is fast: AVX512-BF16 or AMX on x86 CPUs."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def backend() -> str:
    import keras
    return keras.backend.backend()


def _gpu_devices_tf():
    import tensorflow as tf
    return tf.config.get_visible_devices("GPU")


def uses_gpu() -> bool:
    """Whether the current Keras backend computes on a GPU."""
    b = backend()
    if b == "tensorflow":
        return bool(_gpu_devices_tf())
    if b == "jax":
        import jax
        return jax.default_backend() in ("gpu", "cuda", "rocm")
    if b == "torch":
        import torch
        return torch.cuda.is_available()
    return False


def _nvidia_smi() -> list[dict]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2:
            gpu = {"name": parts[0], "memory_gib": _num(parts[1], 1 / 1024)}
            if len(parts) > 2:
                gpu["compute_capability"] = parts[2]
            gpus.append(gpu)
    return gpus


def _num(text, scale=1.0):
    try:
        return round(float(text) * scale, 1)
    except ValueError:
        return None


def gpu_info() -> list[dict]:
    """Name, memory (GiB) and compute capability of each GPU the backend uses."""
    smi = _nvidia_smi()
    b = backend()
    gpus = []
    try:
        if b == "tensorflow":
            import tensorflow as tf
            for i, d in enumerate(_gpu_devices_tf()):
                det = tf.config.experimental.get_device_details(d)
                cc = det.get("compute_capability")
                gpus.append({"name": det.get("device_name", d.name),
                             "compute_capability": ".".join(map(str, cc)) if cc else None,
                             "memory_gib": smi[i]["memory_gib"] if i < len(smi) else None})
        elif b == "jax":
            import jax
            for i, d in enumerate(x for x in jax.devices() if x.platform != "cpu"):
                stats = d.memory_stats() or {}
                mem = stats.get("bytes_limit")
                gpus.append({"name": d.device_kind,
                             "compute_capability": getattr(d, "compute_capability", None),
                             "memory_gib": round(mem / 2**30, 1) if mem else
                             (smi[i]["memory_gib"] if i < len(smi) else None)})
        else:
            gpus = smi
    except Exception:   # noqa: BLE001 - a report, never a reason to fail
        gpus = smi
    return gpus
