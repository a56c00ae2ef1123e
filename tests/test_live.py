"""`stylecam live`: the loop with a file source and fake networks, and the real window under Xvfb."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import read_timing
from test_convert import ENV, stylecam

from stylecam.errors import UserError
from stylecam.live import Capture, LiveOptions, LiveSession, NoWindow, check_display
from stylecam.stylize import Look


class Slow:
    """A fake network slower than the source: ``delay`` seconds per call; adds ``shift``."""

    def __init__(self, delay=0.0, shift=0, fail_after=None):
        self.delay, self.shift, self.calls, self.fail_after = delay, shift, 0, fail_after

    def stylize_batch(self, frames):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise UserError("network fell over")
        time.sleep(self.delay)
        return np.clip(frames.astype(int) + self.shift, 0, 255).astype(np.uint8)


class FakeWindow(NoWindow):
    """Records what would be shown; presses the queued keys one per new frame shown."""

    def __init__(self, keys=()):
        self.shown, self.keys, self._pressed_at = [], list(keys), 0

    def show(self, bgr):
        self.shown.append(bgr)

    def key(self, wait_ms=1):
        time.sleep(wait_ms / 1000)
        if self.keys and len(self.shown) > self._pressed_at:
            self._pressed_at = len(self.shown)
            return ord(self.keys.pop(0))
        return -1


def session(source, styles=None, keys=(), **opts):
    styles = styles or {"a": Slow(), "b": Slow(shift=60)}
    return LiveSession(
        source, list(styles), styles.__getitem__, FakeWindow(keys), Look(), LiveOptions(**opts), log=lambda m: None
    )


def test_newest_frame_wins_with_a_slow_network(make_video):
    src = make_video("live.mp4", frames=40, fps=20, audio=False)  # 2 s, 20 fps
    slow = Slow(delay=0.2)  # 5 fps network
    s = session(Capture(str(src), realtime=True), {"slow": slow})
    shown = s.run()
    assert 4 <= shown <= 14  # far fewer than 40: old frames were skipped
    assert s.dropped >= 40 - shown - 2
    assert s.shown == sorted(set(s.shown))  # always forward in time
    assert max(np.diff(s.shown)) >= 3  # ... by skipping to the newest frame
    assert max(s.latencies) < 2 * 200 + 150  # no backlog: latency stays ~ one network call
    assert np.mean(s.latencies[-3:]) < np.mean(s.latencies[:3]) + 150


def test_keys_change_what_is_shown(make_video, tmp_path):
    src = make_video("keys.mp4", frames=30, fps=30, audio=False, source="smptebars")
    keys = ["o", "n", "+", "-", "-", "c", "s", "h", " ", " ", "q"]
    s = session(Capture(str(src), realtime=True), keys=keys, snapshot_dir=tmp_path)
    s.run()
    win = s.display
    assert win.shown[0].shape == (48, 64, 3)  # before "o"
    assert win.shown[-1].shape == (48, 128, 3)  # original side by side
    assert s.style_index == 1 and s.processor.stylizer.shift == 60
    assert s.processor.look.strength == pytest.approx(0.8)  # 1.0 capped, then -0.2
    assert s.processor.look.preserve_color and s.show_help and not s.paused
    assert len(s.saved) == 1 and cv2.imread(str(s.saved[0])).shape == (48, 64, 3)
    assert len(s.shown) < 30  # "q" quit before the clip ended


def test_record_from_the_start_without_a_window(make_video, tmp_path):
    src = make_video("rec.mp4", frames=20, fps=20, audio=False)
    rec = tmp_path / "rec.mp4"
    s = session(Capture(str(src), realtime=False), record=rec)
    shown = s.run()
    t = read_timing(rec)
    assert t.frames == shown > 0 and (t.width, t.height) == (64, 48)
    assert not list(tmp_path.glob(".*partial*"))


def test_recording_is_finalised_when_the_network_fails(make_video, tmp_path):
    src = make_video("rec.mp4", frames=20, fps=20, audio=False)
    rec = tmp_path / "rec.mp4"
    # Paced at the clip's 20 fps, so the network keeps up and no frame before the failure is
    # dropped (unpaced, the reader could outrun it and end the clip before the 6th call).
    # The first call is the warm-up on a black frame, so frames 0-4 pass and frame 5 fails.
    s = session(Capture(str(src), realtime=True), {"a": Slow(fail_after=6)}, record=rec)
    with pytest.raises(UserError, match="fell over"):
        s.run()
    assert read_timing(rec).frames == 5


def test_camera_lost_mid_stream_is_an_error_and_the_recording_plays(make_video, tmp_path):
    src = make_video("cam.mp4", frames=12, fps=20, audio=False)
    cam = Capture(str(src), realtime=False)
    cam.is_camera = True  # the file ending now looks like an unplugged camera
    rec = tmp_path / "rec.mp4"
    s = session(cam, record=rec)
    with pytest.raises(UserError, match="stopped delivering frames"):
        s.run()
    assert read_timing(rec).frames == len(s.shown) > 0


def test_r_key_records_and_stops(make_video, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = make_video("r.mp4", frames=20, fps=20, audio=False)
    s = session(Capture(str(src), realtime=True), keys=["r", "h", "h", "r", "q"])
    s.run()
    files = list(tmp_path.glob("stylecam-*.mp4"))
    assert len(files) == 1 and read_timing(files[0]).frames >= 1


def test_bad_sources_and_displays(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="not found"):
        Capture(str(tmp_path / "none.mp4"))
    (tmp_path / "x.mp4").write_text("no")
    with pytest.raises(UserError, match="cannot open"):
        Capture(str(tmp_path / "x.mp4"))
    with pytest.raises(UserError, match="camera 99"):
        Capture(99)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UserError, match="no display"):
        check_display()
    monkeypatch.setenv("DISPLAY", ":987")
    with pytest.raises(UserError, match="cannot connect"):
        check_display()


def test_cli_errors_are_one_line(make_video, tmp_path, tiny_model):
    src = make_video("cli.mp4", frames=10, fps=10, audio=False)
    env = {k: v for k, v in ENV.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    cases = [
        (["--camera", "99", "--no-window", "--record", tmp_path / "a.mp4"], "camera 99"),
        (["--source", src, "--style", tiny_model], "no display"),
        (["--source", src, "--no-window"], "--record"),
    ]
    for args, words in cases:
        r = stylecam("live", *args, env=env)
        lines = [line for line in r.stderr.splitlines() if line.startswith("stylecam:")]
        assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr
        assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_live_runs_the_fast_networks_without_a_gpu(make_video, tmp_path):
    from stylecam.hardware import uses_gpu

    src = make_video("fastlive.mp4", size=(64, 48), frames=12, fps=12, audio=False)
    rec = tmp_path / "rec.mp4"
    r = stylecam(
        "live", "--source", src, "--loop", "--duration", "6", "--no-window", "--record", rec, "--style", "great-wave"
    )
    assert r.returncode == 0, r.stderr
    assert ("live: full networks" if uses_gpu() else "live: fast networks") in r.stderr
    assert "frames shown at" in r.stderr and read_timing(rec).frames >= 2
    # The network is compiled for the clip's size before capture starts, so the first frame's
    # compile does not stall the stream: the fast network keeps up with 12 fps from the start.
    dropped = int(r.stderr.split(" dropped")[0].split()[-1])
    assert dropped <= 3, r.stderr


def test_cli_help_lists_the_keys():
    r = stylecam("live", "--help")
    text = " ".join(r.stdout.split())
    for words in ("n / p", "side by side", "snapshot", "recording", "q / Esc"):
        assert words in text


# ---------------------------------------------------------------- the real window

needs_xvfb = pytest.mark.skipif(
    not all(shutil.which(x) for x in ("Xvfb", "xdotool", "import")),
    reason="needs Xvfb, xdotool and ImageMagick import (apt: xvfb xdotool imagemagick)",
)


@pytest.fixture
def xvfb():
    display = f":{90 + os.getpid() % 500}"
    proc = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while not Path(f"/tmp/.X11-unix/X{display[1:]}").exists() and time.time() < deadline:
        time.sleep(0.05)
    yield {**ENV, "DISPLAY": display}
    proc.terminate()
    proc.wait(5)


def _x(env, *args):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60).stdout.strip()


def _window_size(env, wid):
    geo = _x(env, "xdotool", "getwindowgeometry", wid).split("Geometry:")[-1].strip()
    return tuple(int(v) for v in geo.split("x"))


def _shot(env, wid, path):
    _x(env, "import", "-window", wid, str(path))
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _wait(pred, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


@needs_xvfb
def test_window_under_xvfb(xvfb, make_video, tmp_path, tiny_model):
    src = make_video("bars.mp4", size=(160, 120), frames=30, fps=15, audio=False, source="smptebars")
    raw = cv2.cvtColor(cv2.imread(str(_frame0(src, tmp_path))), cv2.COLOR_BGR2RGB)
    p = subprocess.Popen(
        [sys.executable, "-m", "stylecam.cli", "live", "--source", str(src), "--loop", "--style", str(tiny_model)],
        env=xvfb,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wid = _x(xvfb, "xdotool", "search", "--sync", "--name", "^stylecam$").splitlines()[0]
        assert _wait(lambda: _window_size(xvfb, wid) == (160, 120)), "no frames shown"
        # The first frame can take a while on a loaded machine: poll until it is drawn.
        assert _wait(lambda: _shot(xvfb, wid, tmp_path / "a.png").std() > 10, 60), "window stays blank"
        shot = _shot(xvfb, wid, tmp_path / "a.png")
        assert shot.shape == raw.shape
        assert np.abs(shot[40:].astype(int) - raw[40:]).mean() > 20  # stylized, not raw
        _x(xvfb, "xdotool", "windowfocus", "--sync", wid)
        _x(xvfb, "xdotool", "key", "o")  # original side by side
        assert _wait(lambda: _window_size(xvfb, wid) == (320, 120), 20)
        time.sleep(0.5)
        both = _shot(xvfb, wid, tmp_path / "b.png")
        assert np.abs(both[40:, :160].astype(int) - raw[40:]).mean() < 12  # left: the original
        assert np.abs(both[40:, 160:].astype(int) - raw[40:]).mean() > 20  # right: stylized
        _x(xvfb, "xdotool", "key", "s")  # snapshot
        assert _wait(lambda: list(tmp_path.glob("stylecam-*.png")), 20)
        _x(xvfb, "xdotool", "key", "q")
        p.wait(30)
        assert p.returncode == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _frame0(src, tmp_path):
    from conftest import ffmpeg

    out = tmp_path / "raw.png"
    ffmpeg("-i", str(src), "-frames:v", "1", str(out))
    return out


def test_overlay_outline_follows_the_glyphs_of_its_text():
    # Every dark outline pixel must touch the white text: no ghost letters beside it.
    import cv2

    from stylecam.live import KEYS, draw_text

    grey = np.full((360, 640, 3), 128, np.uint8)
    lines = ["12.3 fps  45 ms  starry-night  strength 1.0   h: keys", *[f"{k}: {v}" for k, v in KEYS]]
    out = draw_text(grey, lines)
    white = (out.min(axis=2) > 200).astype(np.uint8)
    dark = out.max(axis=2) < 60
    assert white.sum() > 500 and dark.sum() > 500
    near_white = cv2.dilate(white, np.ones((5, 5), np.uint8)) > 0
    assert not (dark & ~near_white).any()
