"""Shared fixtures: a tiny untrained style network and tiny generated videos."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHARED_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"


needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed (pip install jax): the JAX backend cannot be tested",
)


def run_under_jax(script: str, *args) -> dict:
    """Run ``script`` in a new Python on Keras's JAX backend (CPU); its last line of output, as JSON."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ffmpeg(*args: str) -> None:
    from stylecam.video_io import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def tiny_net():
    from stylecam.network import build_network

    return build_network(width=4, residual_blocks=1)


@pytest.fixture(scope="session")
def tiny_stylizer(tiny_net):
    from stylecam.stylizer import Stylizer

    return Stylizer(tiny_net)


@pytest.fixture(scope="session")
def tiny_model(tiny_net, tmp_path_factory) -> Path:
    """A tiny untrained model file, for --style."""
    from stylecam.modelfile import save_model

    return save_model(tiny_net, tmp_path_factory.mktemp("model") / "tiny.keras")


@pytest.fixture(scope="session")
def make_video(tmp_path_factory):
    """make_video(name, size=(64, 48), frames=20, fps=10, audio=True, vfr=False, rotate=None,
    faststart=True, source='testsrc') -> path of a generated H.264 MP4.

    ``vfr``: frames 10.. are shifted 0.5 s later (a gap), so timing is not constant.
    ``audio``: a 440 Hz AAC tone exactly as long as the video's nominal duration.
    """
    folder = tmp_path_factory.mktemp("videos")
    cache: dict = {}

    def make(
        name="clip.mp4",
        size=(64, 48),
        frames=20,
        fps=10,
        audio=True,
        vfr=False,
        rotate=None,
        faststart=True,
        source="testsrc",
    ) -> Path:
        key = (name, size, frames, fps, audio, vfr, rotate, faststart, source)
        if key in cache:
            return cache[key]
        path = folder / f"{len(cache)}-{name}"
        w, h = size
        args = ["-f", "lavfi", "-i", f"{source}=size={w}x{h}:rate={fps}"]
        if audio:
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={frames / fps}"]
        args += [
            "-frames:v",
            str(frames),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv444p" if w % 2 or h % 2 else "yuv420p",
        ]
        if vfr:
            args += [
                "-vf",
                f"settb=1/{fps},setpts='N+if(gte(N,10),{fps // 2},0)'",
                "-fps_mode",
                "passthrough",
                "-video_track_timescale",
                "1000",
            ]
        if audio:
            args += ["-c:a", "aac", "-shortest"]
        if faststart:
            args += ["-movflags", "+faststart"]
        ffmpeg(*args, str(path))
        if rotate is not None:
            rotated = folder / f"{len(cache)}-rot-{name}"
            ffmpeg("-display_rotation", str(rotate), "-i", str(path), "-c", "copy", str(rotated))
            path = rotated
        cache[key] = path
        return path

    return make


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """A folder of small synthetic photos (and one corrupt file), and a striped painting
    at photos.parent / "style.png", for training tests."""
    import cv2
    import numpy as np

    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(6):
        img = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (7, 7), 3)
        cv2.rectangle(img, (10 + i, 8), (40, 30 + i), (255, 200, 40), -1)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    # Broad diagonal stripes: a thin 8-px lattice would be a pattern locked to the networks' stride
    # grid, which the antialiased designs (antialias_body) draw only slowly, by design.
    yy, xx = np.mgrid[:64, :64]
    style = np.where(((xx + yy) % 16 < 8)[..., None], np.uint8((30, 60, 220)), np.uint8((240, 220, 20)))
    cv2.imwrite(str(folder.parent / "style.png"), style)
    return folder
