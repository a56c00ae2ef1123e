"""`stylecam convert` end to end: videos, stills, folders, options, safety, errors."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time

import cli_run
import cv2
import numpy as np
import pytest
from media import audio_duration, read_timing

from stylecam.convert import convert_path, convert_video
from stylecam.errors import UserError
from stylecam.image_io import read_image
from stylecam.stylize import Look, StyleProcessor, blend, preserve_color
from stylecam.video_io import VideoReader, probe

ENV = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


class Recording:
    """A stand-in stylizer: inverts colours and records the batch shapes it saw."""

    def __init__(self, fail_after=None, exc=KeyboardInterrupt):
        self.shapes, self.fail_after, self.exc = [], fail_after, exc

    def stylize_batch(self, frames):
        self.shapes.append(frames.shape)
        if self.fail_after is not None and len(self.shapes) > self.fail_after:
            raise self.exc()
        return 255 - frames


stylecam = functools.partial(cli_run.stylecam, env=ENV)


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".partial" in p.name]


# ---------------------------------------------------------------- videos


def test_video_with_audio(make_video, tmp_path, tiny_stylizer):
    src = make_video(frames=20, fps=10, audio=True)
    out = tmp_path / "out.mp4"
    s = convert_video(src, out, StyleProcessor(tiny_stylizer), batch=3, progress=False)
    info = probe(out)
    assert s.frames == 20 and read_timing(out).frames == 20
    assert (info.width, info.height, info.fps) == (64, 48, 10)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.audio_streams == 1
    assert audio_duration(out) == pytest.approx(audio_duration(src), abs=0.03)
    assert "audio copied" in s.line() and leftovers(tmp_path) == []


def test_no_audio_in_no_audio_out(make_video, tmp_path):
    out = tmp_path / "out.mp4"
    convert_video(make_video(frames=10, audio=False), out, StyleProcessor(Recording()), progress=False)
    assert probe(out).audio_streams == 0


def test_vfr_odd_size_and_batches(make_video, tmp_path):
    src = make_video("vfr-odd.mp4", size=(63, 47), frames=20, fps=10, audio=False, vfr=True)
    out = tmp_path / "out.mp4"
    fake = Recording()
    convert_video(src, out, StyleProcessor(fake), batch=4, progress=False)
    t = read_timing(out)
    assert (t.width, t.height, t.frames) == (64, 48, 20)  # padded to even: 4:2:0
    assert t.timestamps == pytest.approx(read_timing(src).timestamps, abs=1e-3)
    assert fake.shapes[0] == (4, 47, 63, 3) and sum(s[0] for s in fake.shapes) == 20


def test_output_really_is_the_stylized_frames(make_video, tmp_path):
    src = make_video(frames=10, audio=False, source="smptebars")
    out = tmp_path / "inv.mp4"
    convert_video(src, out, StyleProcessor(Recording()), progress=False)
    a, b = next(iter(VideoReader(src))).image, next(iter(VideoReader(out))).image
    assert np.abs((255 - a.astype(int)) - b).mean() < 8


def test_strength_zero_returns_the_input(make_video, tmp_path, tiny_stylizer):
    src = make_video(frames=10, audio=False, source="smptebars")
    out = tmp_path / "s0.mp4"
    convert_video(src, out, StyleProcessor(tiny_stylizer, Look(strength=0.0)), progress=False)
    a, b = next(iter(VideoReader(src))).image, next(iter(VideoReader(out))).image
    assert np.abs(a.astype(int) - b).mean() < 4


def test_max_size_stylizes_small_and_returns_full_size(make_video, tmp_path):
    fake = Recording()
    out = tmp_path / "small.mp4"
    convert_video(
        make_video(frames=4, audio=False), out, StyleProcessor(fake, Look(max_size=32)), batch=1, progress=False
    )
    assert fake.shapes[0] == (1, 24, 32, 3)
    assert (probe(out).width, probe(out).height) == (64, 48)


# ---------------------------------------------------------------- stills and folders


def _image(path, w=40, h=30, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img)
    return path


def test_image_in_image_out(tmp_path, tiny_stylizer):
    src = _image(tmp_path / "photo.jpg", 41, 31)
    for name in ("out.png", "out.jpg"):
        out = tmp_path / name
        convert_path(src, out, lambda: StyleProcessor(tiny_stylizer))
        assert read_image(out).shape == (31, 41, 3)
    assert open(tmp_path / "out.png", "rb").read(4) == b"\x89PNG"
    assert open(tmp_path / "out.jpg", "rb").read(2) == b"\xff\xd8"


def test_transparency_is_kept_where_the_format_can_carry_it(tmp_path):
    rng = np.random.default_rng(3)
    bgra = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    bgra[:10, :, 3] = 0  # a transparent band
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "logo.png"), bgra)
    for out in (tmp_path / "logo.png", tmp_path / "logo.webp", tmp_path / "folder" / "logo.png"):
        src = tmp_path / "in" if out.parent.name == "folder" else tmp_path / "in" / "logo.png"
        convert_path(src, out.parent if src.is_dir() else out, lambda: StyleProcessor(Recording()))
        back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert back.shape == (30, 40, 4), out
        assert np.array_equal(back[..., 3], bgra[..., 3]), out
        if out.suffix == ".png":  # lossless: the colours were stylized
            assert np.array_equal(back[..., :3], 255 - bgra[..., :3])
    convert_path(tmp_path / "in" / "logo.png", tmp_path / "logo.jpg", lambda: StyleProcessor(Recording()))
    assert cv2.imread(str(tmp_path / "logo.jpg"), cv2.IMREAD_UNCHANGED).shape == (30, 40, 3)


def test_a_photo_is_turned_the_way_its_exif_orientation_says(tmp_path):
    import struct

    _image(tmp_path / "plain.jpg", 40, 30)
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHII", 0x0112, 3, 1, 6 << 16) + b"\0" * 4
    app1 = b"Exif\x00\x00" + tiff  # Orientation 6: turn 90 degrees clockwise
    data = (tmp_path / "plain.jpg").read_bytes()
    (tmp_path / "phone.jpg").write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
    s = convert_path(tmp_path / "phone.jpg", tmp_path / "out.png", lambda: StyleProcessor(Recording()))
    assert (s.width, s.height) == (30, 40) and read_image(tmp_path / "out.png").shape == (40, 30, 3)


def test_folder_of_images(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(3):
        _image(tmp_path / "in" / f"p{i}.png", 20 + i, 16, seed=i)
    (tmp_path / "in" / "notes.txt").write_text("skip me")
    s = convert_path(tmp_path / "in", tmp_path / "out", lambda: StyleProcessor(Recording()))
    assert s.frames == 3 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    a, b = read_image(tmp_path / "in" / "p2.png"), read_image(tmp_path / "out" / "p2.png")
    assert np.array_equal(255 - a, b)
    with pytest.raises(UserError, match="already exists"):
        convert_path(tmp_path / "in", tmp_path / "out", lambda: StyleProcessor(Recording()))


def test_postprocess_strength_and_colour():
    rng = np.random.default_rng(1)
    orig = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    sty = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    assert np.array_equal(blend(orig, sty, 0.0), orig)
    assert np.array_equal(blend(orig, sty, 1.0), sty)
    half = blend(orig, sty, 0.5).astype(int)
    assert np.abs(half - (orig.astype(int) + sty) / 2).max() <= 1
    kept = preserve_color(orig, sty)
    ycc = lambda x: cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(int)  # noqa: E731
    assert np.abs(ycc(kept[0])[..., 1:] - ycc(orig[0])[..., 1:]).mean() < 6
    assert np.abs(ycc(kept[0])[..., 0] - ycc(sty[0])[..., 0]).mean() < 6


# ---------------------------------------------------------------- nothing lost


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupted_conversion_leaves_no_file(make_video, tmp_path, exc):
    out = tmp_path / "out.mp4"
    with pytest.raises(exc):
        convert_video(
            make_video(frames=20, audio=True),
            out,
            StyleProcessor(Recording(fail_after=2, exc=exc)),
            batch=2,
            progress=False,
        )
    assert not out.exists() and leftovers(tmp_path) == []


def test_existing_output_and_input_are_protected(make_video, tmp_path):
    src = make_video(frames=4, audio=False)
    with pytest.raises(UserError, match="is the input"):
        convert_path(src, src, lambda: StyleProcessor(Recording()), overwrite=True)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(UserError, match="--overwrite"):
        convert_path(src, out, lambda: StyleProcessor(Recording()))
    assert out.read_bytes() == b"precious"
    convert_path(src, out, lambda: StyleProcessor(Recording()), overwrite=True, progress=False)
    assert probe(out).width == 64


# ---------------------------------------------------------------- the command


@pytest.mark.slow
def test_cli_converts_with_summary(make_video, tmp_path, tiny_model):
    out = tmp_path / "cli.mp4"
    r = stylecam(
        "convert",
        make_video(frames=20, fps=10, audio=True),
        "-o",
        out,
        "--style",
        tiny_model,
        "--batch",
        "2",
        "--preset",
        "ultrafast",
        "--strength",
        "0.8",
        "--preserve-color",
    )
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "20 frames" in r.stdout and "audio copied" in r.stdout
    assert read_timing(out).frames == 20 and probe(out).has_audio


@pytest.mark.slow
def test_cli_bad_inputs_are_one_line_errors(make_video, tmp_path, tiny_model):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    full = make_video("t.mp4", frames=60, audio=False)
    (tmp_path / "cut.mp4").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    cases = {"nope.mp4": "not found", "empty.mp4": "empty", "text.mp4": "not a video", "cut.mp4": "truncated"}
    for name, words in cases.items():
        r = stylecam("convert", tmp_path / name, "-o", tmp_path / f"o-{name}", "--style", tiny_model)
        assert r.returncode == 2, (name, r.stderr)
        lines = [line for line in r.stderr.splitlines() if line.startswith("stylecam:")]
        assert len(lines) == 1 and words in lines[0], (name, r.stderr)
        assert "Traceback" not in r.stderr and not (tmp_path / f"o-{name}").exists()
        assert name != "cut.mp4" or "not written" in lines[0]


@pytest.mark.slow
def test_cli_ctrl_c_leaves_no_file(make_video, tmp_path, tiny_model):
    src = make_video("long.mp4", size=(320, 240), frames=1500, fps=25, audio=True)  # seconds of work, even with XLA
    out = tmp_path / "out.mp4"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stylecam.cli",
            "convert",
            str(src),
            "-o",
            str(out),
            "--style",
            str(tiny_model),
            "--batch",
            "1",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job inherits SIGINT ignored, and Python then never raises Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 90
    while not leftovers(tmp_path) and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "not written" in err and "Traceback" not in err
    assert not out.exists() and leftovers(tmp_path) == []
