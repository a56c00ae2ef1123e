"""What the machine can do (CPU flags, GPUs) and which device computes: one selection for both
Keras backends (TensorFlow and JAX)."""

from __future__ import annotations

import functools
import platform
import shutil
import subprocess
from pathlib import Path

from .errors import UserError

DEVICES = ("auto", "cpu", "gpu")


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


def select_device(device: str) -> None:
    """``cpu`` hides GPUs from the backend, ``gpu`` requires one, ``auto`` uses what is there.
    Call before the first tensor is made."""
    if device not in DEVICES:
        raise UserError(f"--device must be cpu, gpu or auto, not {device!r}")
    if device == "auto":
        return
    b = backend()
    if b == "jax":
        import jax

        if device == "cpu":
            jax.config.update("jax_platforms", "cpu")
        elif not uses_gpu():
            raise UserError(
                "--device gpu: JAX sees no GPU here (install jax[cuda12] or jax[cuda13] "
                "with a CUDA driver, or use --device cpu)"
            )
        return
    if b == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if device == "cpu" and gpus:
            tf.config.set_visible_devices([], "GPU")
        elif device == "gpu" and not gpus:
            raise UserError(
                "--device gpu: TensorFlow sees no GPU here (install tensorflow[and-cuda] "
                "with a CUDA driver, or use --device cpu)"
            )
        return
    if device == "gpu" and not uses_gpu():
        raise UserError(f"--device gpu: the {b} backend sees no GPU here (use --device cpu)")


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
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
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
                gpus.append(
                    {
                        "name": det.get("device_name", d.name),
                        "compute_capability": ".".join(map(str, cc)) if cc else None,
                        "memory_gib": smi[i]["memory_gib"] if i < len(smi) else None,
                    }
                )
        elif b == "jax":
            import jax

            for i, d in enumerate(x for x in jax.devices() if x.platform != "cpu"):
                stats = d.memory_stats() or {}
                mem = stats.get("bytes_limit")
                gpus.append(
                    {
                        "name": d.device_kind,
                        "compute_capability": getattr(d, "compute_capability", None),
                        "memory_gib": round(mem / 2**30, 1)
                        if mem
                        else (smi[i]["memory_gib"] if i < len(smi) else None),
                    }
                )
        else:
            gpus = smi
    except Exception:  # noqa: BLE001 - a report, never a reason to fail
        gpus = smi
    return gpus
