"""Nothing lost, nothing clobbered: real processes, real signals, real files."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from cli_run import QUIET as ENV
from cli_run import stylecam

from stylecam.atomic import PartialFile
from stylecam.errors import UserError


def partials(folder):
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def start_convert(src, out, model):
    return subprocess.Popen(
        [sys.executable, "-m", "stylecam.cli", "convert", str(src), "-o", str(out), "--style", str(model)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_partial(folder, proc, seconds=120):
    deadline = time.time() + seconds
    while not partials(folder) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert partials(folder), "the conversion never started writing"
    time.sleep(0.5)


@pytest.fixture(scope="module")
def long_clip(make_video):
    return make_video("long.mp4", size=(320, 240), frames=1500, fps=25, audio=True)  # seconds of work


@pytest.mark.slow
def test_sigterm_ends_a_conversion_like_ctrl_c(long_clip, tmp_path, tiny_model):
    out = tmp_path / "out.mp4"
    p = start_convert(long_clip, out, tiny_model)
    wait_for_partial(tmp_path, p)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert "not written" in err and "terminated" in err and "Traceback" not in err
    assert not out.exists() and partials(tmp_path) == []


@pytest.mark.slow
def test_a_later_run_removes_the_partial_of_a_killed_one(long_clip, make_video, tmp_path, tiny_model):
    out = tmp_path / "out.mp4"
    p = start_convert(long_clip, out, tiny_model)
    wait_for_partial(tmp_path, p)
    p.kill()
    p.wait()
    stale = partials(tmp_path)
    assert len(stale) == 1
    r = stylecam("convert", make_video(frames=4, audio=False), "-o", out, "--style", tiny_model)
    assert r.returncode == 0, r.stderr
    assert f"removed {tmp_path / stale[0]}" in r.stderr and partials(tmp_path) == [] and out.exists()


def test_a_partial_of_a_live_run_is_left_alone(tmp_path):
    target = tmp_path / "x.mp4"
    first = PartialFile(target)
    second = PartialFile(target)  # the first is locked: still being written
    assert first.tmp.exists() and second.tmp.exists()
    first.discard()
    second.discard()


def test_the_finishing_rename_never_replaces_a_file_that_appeared_meanwhile(tmp_path):
    target = tmp_path / "out.png"
    a, b = PartialFile(target), PartialFile(target)
    a.tmp.write_bytes(b"first")
    b.tmp.write_bytes(b"second")
    a.commit()
    with pytest.raises(UserError, match="appeared while this run was writing it.*out-2.png"):
        b.commit()
    assert target.read_bytes() == b"first" and (tmp_path / "out-2.png").read_bytes() == b"second"
    c = PartialFile(target, overwrite=True)
    c.tmp.write_bytes(b"third")
    c.commit()
    assert target.read_bytes() == b"third" and partials(tmp_path) == []


@pytest.mark.slow
def test_live_record_refuses_its_own_source(make_video, tmp_path):
    src = tmp_path / "src.mp4"
    shutil.copy(make_video(frames=10, audio=False), src)
    before = src.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    for target in (src, link, tmp_path / "sub" / ".." / "src.mp4"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        r = stylecam("live", "--source", src, "--no-window", "--record", target, "--overwrite", timeout=60)
        assert r.returncode == 2 and "is the --source" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert src.read_bytes() == before


@pytest.mark.slow
def test_record_and_source_problems_are_said_before_the_model_loads(make_video, tmp_path):
    src = make_video(frames=10, audio=False)
    exists = tmp_path / "exists.mp4"
    exists.write_bytes(b"keep me")
    for args, words in [
        (("--record", exists), "already exists"),
        (("--record", tmp_path / "missing" / "r.mp4"), "folder does not exist"),
        (("--record", tmp_path), "is a folder"),
    ]:
        started = time.time()
        r = stylecam("live", "--source", src, "--no-window", *args, timeout=60)
        assert r.returncode == 2 and words in r.stderr, r.stderr
        assert time.time() - started < 20  # no model load, no warm-up
    r = stylecam("live", "--source", tmp_path, "--no-window", "--record", tmp_path / "r.mp4", timeout=60)
    assert r.returncode == 2 and "is a folder" in r.stderr
    assert exists.read_bytes() == b"keep me"


def test_an_output_that_is_a_folder_is_a_clear_error(tmp_path, tiny_model):
    (tmp_path / "out.png").mkdir()
    r = stylecam(
        "convert", "samples/photos/china.jpg", "-o", tmp_path / "out.png", "--overwrite", "--style", tiny_model
    )
    assert r.returncode == 2 and "is a folder" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_an_audio_only_input_says_why(tmp_path, tiny_model):
    from conftest import ffmpeg

    audio = tmp_path / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio))
    r = stylecam("convert", audio, "-o", tmp_path / "out.mp4", "--style", tiny_model)
    assert r.returncode == 2 and "audio-only" in r.stderr, r.stderr


@pytest.mark.slow
def test_a_folder_with_an_unreadable_image_converts_the_rest(tmp_path, tiny_model):
    import cv2

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "c.png"):
        cv2.imwrite(str(src / name), np.full((20, 30, 3), 120, np.uint8))
    (src / "b.jpg").write_bytes(b"not a jpeg")
    r = stylecam("convert", src, "-o", tmp_path / "out", "--style", tiny_model)
    assert r.returncode == 2 and "b.jpg" in r.stderr and "skipped" in r.stderr, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["empty", "not-an-image", "content-is-a-file", "checkpoint-0"])
def test_train_input_errors_are_one_line_and_create_nothing(photos, tmp_path, case):
    style, content, extra = photos.parent / "style.png", photos, []
    if case == "empty":
        content = tmp_path / "empty"
        content.mkdir()
    elif case == "not-an-image":
        style = tmp_path / "painting.jpg"
        style.write_text("not a picture")
    elif case == "content-is-a-file":
        content = photos / "p0.png"
    else:
        extra = ["--checkpoint-every", "0"]
    workdir = tmp_path / "runs" / "x"
    r = stylecam("train", style, "--content", content, "--name", "x", "--workdir", workdir,
                 "-o", tmp_path / "x.keras", *extra, timeout=120)  # fmt: skip
    assert r.returncode == 2 and r.stderr.startswith("stylecam: error:") and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x.keras").exists()


@pytest.fixture
def mounted(tmp_path):
    """mounted(options) -> a fresh tmpfs folder mounted with ``options`` (root only)."""
    points = []

    def mount(options):
        point = tmp_path / f"mnt{len(points)}"
        point.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}): needs root")
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", str(point)], capture_output=True)


def test_a_read_only_output_folder_is_said_before_the_work(mounted, tiny_model):
    folder = mounted("ro,size=1m")
    started = time.perf_counter()
    r = stylecam("convert", "samples/photos/china.jpg", "-o", folder / "out.png", "--style", tiny_model)
    assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
    assert "read-only file system" in r.stderr and str(folder) in r.stderr and "Traceback" not in r.stderr
    assert time.perf_counter() - started < 60 and not list(folder.iterdir())


def test_a_full_disk_while_writing_an_image_is_one_line_and_leaves_nothing(mounted, tmp_path, tiny_model):
    import cv2

    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "noise.png"), noise)  # about 1.4 MB as PNG: it cannot fit in 256 KB
    folder = mounted("size=256k")
    r = stylecam("convert", tmp_path / "noise.png", "-o", folder / "out.png", "--style", tiny_model)
    assert r.returncode != 0 and "disk is full" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert str(folder / "out.png") in r.stderr and not list(folder.iterdir())
