"""The GPU leg: one device selection on both backends, a clear line when memory runs out, the
NVIDIA encoder, the GPU install extras, and keeping the device busy. Tests that need an NVIDIA
GPU are skipped without one; scripts/gpu-check.sh runs them on one."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cli_run
import numpy as np
import pytest
from media import read_timing

from stylecam.errors import UserError
from stylecam.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["tensorflow"] + (["jax"] if importlib.util.find_spec("jax") else [])


def _gpu_here() -> bool:
    from stylecam.hardware import uses_gpu

    return uses_gpu()


needs_gpu = pytest.mark.skipif(
    not _gpu_here(), reason="no GPU visible to this Keras backend (scripts/gpu-check.sh runs these on one)"
)
no_gpu = pytest.mark.skipif(_gpu_here(), reason="this machine has a GPU")


def stylecam(*args, backend="tensorflow"):
    env = {**cli_run.QUIET, "KERAS_BACKEND": backend}
    env.pop("JAX_PLATFORMS", None)
    return cli_run.stylecam(*args, env=env, cwd=ROOT, timeout=600)


def one_line_error(r, *words):
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("stylecam: error:")]
    assert "Traceback" not in r.stderr and len(errors) == 1, r.stderr[-2000:]
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


# ---------------------------------------------------------------- without a GPU


@no_gpu
@pytest.mark.parametrize("backend", BACKENDS)
def test_device_gpu_without_a_gpu_is_one_line_and_exit_2(backend, tiny_model, tmp_path):
    photo, out = ROOT / "samples/photos/china.jpg", tmp_path / "o.png"
    r = stylecam("convert", photo, "-o", out, "--style", tiny_model, "--device", "gpu", backend=backend)
    line = one_line_error(r, "--device gpu", "no GPU", "--device cpu")
    assert ("JAX" if backend == "jax" else "TensorFlow") in line
    assert not (tmp_path / "o.png").exists()
    one_line_error(stylecam("bench", "--device", "gpu", "--size", "64x64", backend=backend), "--device gpu")


def test_running_out_of_memory_names_the_batch_and_size_and_what_to_try():
    # A real backend allocation that no machine can make (hundreds of terabytes), through the
    # Stylizer that convert, live and bench use.
    import keras

    from stylecam.stylizer import Stylizer

    huge = keras.Sequential([keras.Input((None, None, 3)), keras.layers.UpSampling2D(size=(2**14, 2**14))])
    with pytest.raises(UserError) as e:
        Stylizer(huge).stylize_batch(np.zeros((64, 8, 8, 3), np.uint8))
    msg = str(e.value)
    assert "out of memory" in msg and "64 frames of 8x8" in msg and "--batch" in msg and "--max-size" in msg


def test_nvenc_without_an_nvidia_driver_is_one_line(make_video, tiny_model, tmp_path):
    if _gpu_here():
        pytest.skip("this machine has a GPU")
    src = make_video("n.mp4", frames=4, audio=False)
    out = tmp_path / "o.mp4"
    r = stylecam("convert", src, "-o", out, "--style", tiny_model, "--encoder", "nvenc", "--device", "cpu")
    assert "timing" not in one_line_error(r, "--encoder nvenc", "NVIDIA", "--encoder libx264")
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_a_bad_encoder_is_refused_before_anything_loads(tmp_path):
    r = stylecam("convert", ROOT / "samples/photos/china.jpg", "-o", tmp_path / "o.png", "--encoder", "x265")
    one_line_error(r, "--encoder must be libx264 or nvenc")
    one_line_error(stylecam("bench", "--encoder", "av1"), "--encoder")


# ---------------------------------------------------------------- keeping the device busy


class Recorder:
    """A processor with ``submit``: logs when each batch starts and when its result is asked for."""

    def __init__(self):
        self.log, self.lock = [], threading.Lock()

    def submit(self, frames):
        k = int(frames[0, 0, 0, 0])
        with self.lock:
            self.log.append(("submit", k))

        def result():
            with self.lock:
                self.log.append(("result", k))
            return frames + 1

        return result

    def __call__(self, frames):
        return self.submit(frames)()


class Frame:
    def __init__(self, k):
        self.image = np.full((4, 4, 3), k, np.uint8)


def test_the_next_batch_goes_to_the_device_before_this_one_comes_back():
    rec = Recorder()
    out = [o for _, o in Pipeline([Frame(k) for k in range(0, 12)], rec, batch=3).results()]
    assert [int(o[0, 0, 0]) for o in out] == list(range(1, 13))  # every frame, in order
    batches = [0, 3, 6, 9]
    for a, b in zip(batches, batches[1:]):
        assert rec.log.index(("submit", b)) < rec.log.index(("result", a))


def test_live_does_not_wait_for_a_next_frame_to_show_this_one():
    rec = Recorder()
    list(Pipeline([Frame(k) for k in range(5)], rec, latest_only=True).results())
    for i, (what, k) in enumerate(rec.log):
        if what == "submit":
            assert rec.log[i + 1] == ("result", k)


# ---------------------------------------------------------------- the install extras


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "needs"), [("gpu", "nvidia-cudnn-cu12"), ("gpu-jax", "jax-cuda12-plugin")], ids=["gpu", "gpu-jax"]
)
def test_the_gpu_extras_resolve_to_cuda_builds(extra, needs, tmp_path):
    if extra == "gpu-jax" and sys.version_info < (3, 11):
        pytest.skip("the JAX extra needs Python 3.11+")
    report = tmp_path / "report.json"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
         f"{ROOT}[{extra}]"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if r.returncode != 0 and "Could not find" in r.stderr + r.stdout and "index" in (r.stderr + r.stdout).lower():
        pytest.skip("no package index reachable")
    assert r.returncode == 0, r.stderr[-2000:]
    names = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
    assert needs in names


# ---------------------------------------------------------------- on a GPU


@needs_gpu
@pytest.mark.parametrize("precision", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("quality", ["full", "fast"])
def test_the_gpu_paints_what_the_cpu_paints(precision, quality, tmp_path):
    from stylecam.image_io import read_image
    from stylecam.tuning import psnr

    photo = ROOT / "samples/photos/macaw.jpg"
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    cpu, gpu = tmp_path / "cpu.png", tmp_path / "gpu.png"
    for out, device, p in ((cpu, "cpu", "float32"), (gpu, "gpu", precision)):
        r = stylecam("convert", photo, "-o", out, "--quality", quality, "--device", device, "--precision", p,
                     backend=backend)  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
    assert psnr(read_image(cpu), read_image(gpu)) >= 40.0


@needs_gpu
def test_a_batch_too_large_for_the_gpu_is_one_line():
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    r = stylecam("bench", "--device", "gpu", "--size", "3840x2160", "--batch", "256", "--precision", "float32",
                 "--no-pipeline", "--repeats", "1", "--json", backend=backend)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    row = json.loads(r.stdout)["results"][0]
    assert row["status"] == "skipped" and "out of memory on the GPU" in row["reason"] and "--batch" in row["reason"]


@needs_gpu
def test_convert_on_the_gpu_with_nvenc_keeps_frames_and_audio(make_video, tmp_path):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    src = make_video("g.mp4", size=(128, 72), frames=24, fps=24, audio=True)
    out = tmp_path / "o.mp4"
    r = stylecam("convert", src, "-o", out, "--device", "gpu", "--encoder", "nvenc", "--batch", "8", backend=backend)
    assert r.returncode == 0, r.stderr[-2000:]
    from stylecam.video_io import probe

    assert probe(out).has_audio and read_timing(out).frames == 24
