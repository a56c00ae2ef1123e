"""`stylecam live --serve`: the stylized stream over HTTP as MJPEG, with a page that shows it.

One thread serves each viewer; the live loop only hands over the newest frame, encoded once, so
a slow or vanished viewer never stalls it (a viewer that falls behind skips to the newest frame).
"""

from __future__ import annotations

import errno
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from .errors import UserError

BOUNDARY = "stylecamframe"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>stylecam</title>
<style>html,body{margin:0;height:100%;background:#111}img{display:block;width:100%;height:100%;object-fit:contain}
</style></head><body><img src="/stream.mjpg" alt="stylecam live stream"></body></html>
"""


def parse_address(spec: str) -> tuple[str, int]:
    """``"8080"`` -> ("127.0.0.1", 8080); ``"0.0.0.0:8080"`` -> ("0.0.0.0", 8080)."""
    host, sep, port = spec.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise UserError(f"--serve {spec}: give a port (8080) or HOST:PORT (0.0.0.0:8080)") from None
    if not 1 <= number <= 65535:
        raise UserError(f"--serve {spec}: the port must be between 1 and 65535")
    return host or "127.0.0.1", number


class StreamServer:
    """Serves ``/`` (the page), ``/stream.mjpg`` (the stream) and ``/frame.jpg`` (the newest frame)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, quality: int = 85):
        self.quality = quality
        self._jpeg: bytes | None = None
        self._count = 0
        self._cond = threading.Condition()
        self._closed = False
        self.viewers = 0
        handler = type("Handler", (_Handler,), {"stream": self})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(
                    f"--serve: port {port} on {host} is in use (pick another, e.g. --serve {port + 1})"
                ) from None
            if e.errno == errno.EACCES:
                raise UserError(f"--serve: port {port} needs administrator rights (pick one above 1023)") from None
            raise UserError(f"--serve: cannot listen on {host}:{port} ({e.strerror or e})") from None
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = host
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="stylecam-serve", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "::1", "") else self.host
        return f"http://{host}:{self.port}/"

    def send(self, rgb: np.ndarray) -> None:
        """Publish a frame (H, W, 3 uint8 RGB): encoded here, once for every viewer."""
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            with self._cond:
                self._jpeg, self._count = jpeg.tobytes(), self._count + 1
                self._cond.notify_all()

    def next_frame(self, seen: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The first frame newer than number ``seen`` (waiting up to ``timeout``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._count > seen or self._closed, timeout)
            return self._count, self._jpeg

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    stream: StreamServer
    protocol_version = "HTTP/1.0"
    timeout = 10  # seconds a stuck viewer may block its own thread before it is dropped

    def log_message(self, format, *args):  # the live loop's log is the user's; keep requests out of it
        pass

    def _reply(self, body: bytes, kind: str, status: int = 200):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in ("/", "/index.html"):
            return self._reply(PAGE.encode(), "text/html; charset=utf-8")
        if path == "/frame.jpg":
            _, jpeg = self.stream.next_frame(0)
            return self._reply(jpeg, "image/jpeg") if jpeg else self._reply(b"no frame yet", "text/plain", 503)
        if path != "/stream.mjpg":
            return self._reply(b"not found", "text/plain", 404)
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.stream.viewers += 1
        seen = 0
        try:
            while not self.stream._closed:
                count, jpeg = self.stream.next_frame(seen)
                if jpeg is None or count == seen:
                    continue
                seen = count
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the viewer went away
        finally:
            self.stream.viewers -= 1
