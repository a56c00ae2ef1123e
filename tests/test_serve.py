"""`stylecam live --serve` and `--virtual-camera`: a real server read by real HTTP clients and a
headless Chromium, and pyvirtualcam's real device discovery."""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from test_convert import ENV

from stylecam.errors import UserError
from stylecam.serve import StreamServer, parse_address


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mjpeg_frames(port: int, count: int, timeout: float = 120.0) -> list[np.ndarray]:
    """Read ``count`` JPEG frames from the server's stream, as RGB arrays."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("GET", "/stream.mjpg")
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the server never started"
            time.sleep(0.2)
    response = conn.getresponse()
    assert response.status == 200 and "multipart/x-mixed-replace" in response.getheader("Content-Type")
    frames = []
    while len(frames) < count:
        line = response.fp.readline()
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
            response.fp.readline()
            jpeg = np.frombuffer(response.fp.read(length), np.uint8)
            frames.append(cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    conn.close()
    return frames


def test_addresses_parse():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("http", "70000", "0"):
        with pytest.raises(UserError):
            parse_address(bad)


def test_several_viewers_and_one_that_vanishes_do_not_stall_the_sender():
    server = StreamServer("127.0.0.1", 0)
    try:
        stuck = socket.create_connection(("127.0.0.1", server.port))  # asks for the stream, never reads
        stuck.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
        gone = socket.create_connection(("127.0.0.1", server.port))
        gone.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
        gone.close()
        big = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)  # ~1 MB as JPEG
        started = time.perf_counter()
        import threading

        got = {}

        def viewer(i):
            got[i] = mjpeg_frames(server.port, 3)

        viewers = [threading.Thread(target=viewer, args=(i,)) for i in range(2)]
        for t in viewers:
            t.start()
        for i in range(60):  # far more than the stuck viewer's socket buffers hold
            frame = big.copy()
            frame[:40, :40] = i
            server.send(frame)
            time.sleep(0.02)
        sent = time.perf_counter() - started
        for t in viewers:
            t.join(30)
        assert sent < 15, f"sending 60 frames took {sent:.1f} s: a viewer stalled the sender"
        assert all(len(got[i]) == 3 and got[i][0].shape == (720, 1280, 3) for i in range(2))
        stuck.close()
    finally:
        server.close()


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UserError, match="is in use"):
            StreamServer("127.0.0.1", taken.getsockname()[1])


def test_cli_port_in_use_and_no_virtual_camera_are_said_before_the_model_loads(make_video):
    src = make_video("serve-err.mp4", frames=10, fps=10, audio=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args, words in [
            (["--serve", str(port)], f"port {port} on 127.0.0.1 is in use"),
            (["--virtual-camera"], "modprobe v4l2loopback"),
        ]:
            started = time.perf_counter()
            r = subprocess.run(
                [sys.executable, "-m", "stylecam.cli", "live", "--source", str(src), "--no-window", *args],
                capture_output=True,
                text=True,
                env=ENV,
                timeout=120,
            )
            lines = [line for line in r.stderr.splitlines() if line.startswith("stylecam:")]
            if "virtual" in args[0] and r.returncode == 0:
                pytest.skip("this machine has a virtual camera device")
            assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr
            assert "Traceback" not in r.stderr and time.perf_counter() - started < 30  # before the model


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_live_serves_stylized_frames_to_a_client_and_a_browser(make_video, tmp_path, tiny_model):
    src = make_video("serve.mp4", size=(96, 64), frames=20, fps=10, audio=False, source="smptebars")
    port = free_port()
    live = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stylecam.cli",
            "live",
            "--source",
            str(src),
            "--loop",
            "--no-window",
            "--serve",
            str(port),
            "--style",
            str(tiny_model),
            "--duration",
            "90",
        ],  # fmt: skip
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        frames = mjpeg_frames(port, 5)
        first = cv2.VideoCapture(str(src)).read()[1]
        original = cv2.cvtColor(first, cv2.COLOR_BGR2RGB).astype(float)
        assert all(f.shape == (64, 96, 3) for f in frames)
        assert np.abs(frames[0].astype(float) - original).mean() > 20  # stylized, not the source
        if CHROMIUM:
            shot = tmp_path / "page.png"
            subprocess.run(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={tmp_path / 'chrome'}",
                    "--window-size=480,320",
                    "--virtual-time-budget=4000",
                    f"--screenshot={shot}",
                    f"http://127.0.0.1:{port}/",
                ],  # fmt: skip
                capture_output=True,
                timeout=120,
            )
            page = cv2.imread(str(shot))
            assert page is not None and page.shape[:2] == (320, 480)
            # The page shows the stream: most of it is the stylized picture, not the dark background.
            assert (page.max(axis=2) > 40).mean() > 0.5
    finally:
        live.terminate()
        _, err = live.communicate(timeout=60)
    assert f"serving the stream at http://localhost:{port}/" in err, err
    if not CHROMIUM:
        pytest.skip("no chromium here (apt-get install chromium) to screenshot the page")
