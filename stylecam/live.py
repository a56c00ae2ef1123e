"""`stylecam live`: a stylized camera (or file/stream) preview in an OpenCV window.

Capture runs in the pipeline's source thread and hands frames over through a one-slot
mailbox (newest frame wins), so latency stays low when the network is slower than the
camera. The window, keys, snapshots and recording live on the calling (main) thread.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .atomic import PartialFile, check_writable
from .errors import UserError
from .pipeline import Pipeline
from .styles import display_name
from .stylize import Look, StyleProcessor
from .video_io import VIDEO_SUFFIXES, EncodeSettings, Frame, VideoWriter

KEYS = [
    ("n / p", "next / previous style"),
    ("1-9", "pick a style"),
    ("o", "original side by side"),
    ("+ / -", "strength"),
    ("c", "keep original colours"),
    ("s", "save a snapshot PNG"),
    ("r", "start / stop recording (MP4)"),
    ("space", "pause"),
    ("h", "show / hide these keys"),
    ("q / Esc", "quit"),
]
KEYS_HELP = "Keys: " + "; ".join(f"{k} {v}" for k, v in KEYS) + "."
WINDOW = "stylecam"
CROSS_FADE_SECONDS = 0.5  # a style switch fades instead of cutting
RECORD_SETTINGS = EncodeSettings(crf=20, preset="ultrafast")

try:  # camera probing failures are reported by us, in one line
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
except AttributeError:  # pragma: no cover
    pass


# ---------------------------------------------------------------- capture


class Capture:
    """Frames from a camera index, a file or a URL, as pipeline ``Frame``s.

    ``pts`` is milliseconds since capture started; ``extra['captured']`` the perf_counter
    time the frame was grabbed (for the latency overlay). Files play at their own speed
    (``realtime``) like a camera, and can ``loop``.
    """

    def __init__(self, source: int | str, realtime: bool = True, loop: bool = False):
        self.source, self.realtime, self.loop = source, realtime, loop
        self.is_camera = isinstance(source, int)
        if not self.is_camera and "://" not in str(source):
            if Path(source).is_dir():
                raise UserError(f"--source {source} is a folder; give a video file, a stream URL or --camera N")
            if not Path(source).is_file():
                raise UserError(f"--source not found: {source}")
        self.cap = cv2.VideoCapture(source)
        if not self.cap.isOpened():
            self.cap.release()
            if self.is_camera:
                raise UserError(
                    f"cannot open camera {source}: no camera with that index, or it is "
                    "busy in another program (try --camera 1, or --source FILE)"
                )
            raise UserError(f"cannot open --source {source} (not a video or stream OpenCV can read)")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 0.0
        # (width, height) as the backend reports it; (0, 0) for some streams until a frame arrives
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._stop = False

    def stop(self):
        self._stop = True

    def __iter__(self):
        start = time.perf_counter()
        clock0, media0 = start, None
        index = 0
        try:
            while not self._stop:
                ok, bgr = self.cap.read()
                if not ok:
                    if self.is_camera:
                        raise UserError(
                            f"camera {self.source} stopped delivering frames (unplugged, or taken by another program?)"
                        )
                    if self.loop and index:
                        self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        clock0, media0 = time.perf_counter(), None
                        continue
                    return
                if self.realtime and not self.is_camera:
                    media = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    media0 = media if media0 is None else media0
                    wait = clock0 + (media - media0) - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                now = time.perf_counter()
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield Frame(index, rgb, round((now - start) * 1000), 1, Fraction(1, 1000), extra={"captured": now})
                index += 1
        finally:
            self.cap.release()


# ---------------------------------------------------------------- display


def check_display() -> None:
    """Fail with one line (not a Qt abort) when there is no display to open a window on."""
    if not sys.platform.startswith("linux"):
        return
    display = os.environ.get("DISPLAY", "")
    if not display and not os.environ.get("WAYLAND_DISPLAY"):
        raise UserError(
            "no display to show the window on (DISPLAY is not set): on a server use --no-window --record FILE"
        )
    m = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if m and not Path(f"/tmp/.X11-unix/X{m.group(1)}").exists():
        raise UserError(
            f"cannot connect to display {display} (no X server there): use --no-window --record FILE, or set DISPLAY"
        )


class Window:
    def __init__(self, title: str = WINDOW):
        check_display()
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)

    def show(self, bgr: np.ndarray):
        cv2.imshow(self.title, bgr)

    def key(self, wait_ms: int = 1) -> int:
        k = cv2.waitKey(wait_ms)
        return -1 if k < 0 else k & 0xFF

    def close(self):
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)


class NoWindow:
    """--no-window: nothing shown, no keys."""

    def show(self, bgr):
        pass

    def key(self, wait_ms: int = 1) -> int:
        time.sleep(wait_ms / 1000)
        return -1

    def close(self):
        pass


def draw_text(bgr: np.ndarray, lines: list[str]) -> np.ndarray:
    """White text with a dark outline, readable on any picture. The outline is the text's own
    glyphs widened (a thicker putText draws other glyph shapes, which left ghost letters)."""
    scale = max(0.35, min(0.6, bgr.shape[1] / 1100))
    mask = np.zeros(bgr.shape[:2], np.uint8)
    for i, text in enumerate(lines):
        y = int(18 * scale / 0.5) * (i + 1)
        cv2.putText(mask, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
    text = mask[..., None].astype(np.float32) / 255
    outline = cv2.dilate(mask, np.ones((3, 3), np.uint8))[..., None].astype(np.float32) / 255
    out = bgr.astype(np.float32) * (1 - outline)  # dark wherever the widened text reaches
    out = out * (1 - text) + 255 * text
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- recording


def check_record_target(target: Path, source, overwrite: bool) -> None:
    """Everything that can be wrong with ``--record`` FILE, said before the model loads."""
    target = Path(target)
    if target.is_dir():
        raise UserError(f"--record {target} is a folder; give a file name")
    if target.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"cannot record to {target.name}: use .mp4, .mov or .mkv")
    if not target.parent.is_dir():
        raise UserError(f"--record: folder does not exist: {target.parent}")
    if isinstance(source, str) and "://" not in source and Path(source).exists():
        if target.resolve() == Path(source).resolve() or (target.exists() and os.path.samefile(source, target)):
            raise UserError(f"--record {target} is the --source; choose another file name")
    if target.exists() and not overwrite:
        raise UserError(f"{target} already exists (use --overwrite to replace it)")
    check_writable(target.parent)


class Recorder:
    """Record frames to MP4 at their capture times; ``stop()`` always leaves a playable file."""

    def __init__(self, overwrite: bool = False):
        self.writer = self.partial = None
        self.overwrite = overwrite
        self.t0 = 0

    @property
    def active(self) -> bool:
        return self.writer is not None

    def start(self, target: Path, frame: Frame):
        self.partial = PartialFile(target, self.overwrite)
        h, w = frame.image.shape[:2]
        # x264's ultrafast preset: live recording must not take the CPU from the network.
        self.writer = VideoWriter(self.partial.tmp, w, h, Fraction(1, 1000), settings=RECORD_SETTINGS)
        self.t0 = frame.pts

    def write(self, frame: Frame, image: np.ndarray):
        if self.writer is not None:
            self.writer.write(image, frame.pts - self.t0, 33)

    def stop(self) -> Path | None:
        if self.writer is None:
            return None
        writer, self.writer = self.writer, None
        try:
            writer.close()
            return self.partial.commit()
        finally:
            self.partial.discard()


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


# ---------------------------------------------------------------- the loop


@dataclass
class LiveOptions:
    record: Path | None = None
    snapshot_dir: Path = Path(".")
    duration: float | None = None  # stop after this many seconds (None: until q / end)
    overwrite: bool = False


class LiveSession:
    """The live loop. ``styles`` are names/paths; ``load(style)`` returns a stylizer."""

    def __init__(
        self,
        capture,
        styles: list[str],
        load: Callable,
        display,
        look: Look | None = None,
        options: LiveOptions | None = None,
        log=print,
        sinks=(),
    ):
        self.capture, self.styles, self.load, self.display = capture, list(styles), load, display
        self.sinks = list(sinks)  # also get every stylized frame: the served stream, a virtual camera
        self.options = options or LiveOptions()
        self.log = log
        self._stylizers: dict[str, object] = {}
        self.style_index = 0
        self.processor = StyleProcessor(self._stylizer(0), look or Look())
        self.side_by_side = self.paused = self.show_help = False
        self.recorder = Recorder(self.options.overwrite)
        self.record_next = self.options.record
        self.message, self.message_until = "", 0.0
        self.fps = 0.0
        self.latency_ms = 0.0
        self.shown: list[int] = []  # indices of the frames displayed (for tests)
        self.shown_at: list[float] = []
        self.latencies: list[float] = []
        self.last: tuple | None = None
        self.error: BaseException | None = None
        self.saved: list[Path] = []

    def _stylizer(self, i):
        name = self.styles[i]
        if name not in self._stylizers:
            self._stylizers[name] = self.load(name)
        return self._stylizers[name]

    def say(self, text: str, seconds: float = 2.0):
        self.message, self.message_until = text, time.perf_counter() + seconds
        self.log(text)

    # -- keys
    def handle_key(self, key: int) -> bool:
        """Apply one key; False means quit."""
        if key < 0:
            return True
        ch = chr(key) if key < 128 else ""
        look = self.processor.look
        if key in (27,) or ch == "q":
            return False
        if ch in ("n", "p") or ch.isdigit() and ch != "0":
            i = (self.style_index + (1 if ch == "n" else -1)) % len(self.styles) if ch in "np" else int(ch) - 1
            if i >= len(self.styles):
                self.say(f"no style {ch} ({len(self.styles)} available)")
            elif i != self.style_index:
                self.style_index = i
                self.processor.switch(self._stylizer(i), CROSS_FADE_SECONDS)
                self.say(f"style {i + 1}/{len(self.styles)}: {display_name(self.styles[i])}")
        elif ch == "o":
            self.side_by_side = not self.side_by_side
        elif ch in ("+", "="):
            look.strength = round(min(1.0, look.strength + 0.1), 2)
            self.say(f"strength {look.strength:.1f}")
        elif ch in ("-", "_"):
            look.strength = round(max(0.0, look.strength - 0.1), 2)
            self.say(f"strength {look.strength:.1f}")
        elif ch == "c":
            look.preserve_color = not look.preserve_color
            self.say("original colours " + ("on" if look.preserve_color else "off"))
        elif ch == "s" and self.last:
            path = self.options.snapshot_dir / f"stylecam-{stamp()}-{self.last[0].index}.png"
            cv2.imwrite(str(path), cv2.cvtColor(self.last[1], cv2.COLOR_RGB2BGR))
            self.saved.append(path)
            self.say(f"saved {path}")
        elif ch == "r":
            if self.recorder.active:
                self.say(f"recorded {self.recorder.stop()}")
            else:
                self.record_next = Path(f"stylecam-{stamp()}.mp4")
        elif ch == " ":
            self.paused = not self.paused
        elif ch == "h":
            self.show_help = not self.show_help
        return True

    # -- drawing
    def compose(self, frame: Frame, out: np.ndarray) -> np.ndarray:
        view = np.concatenate([frame.image, out], axis=1) if self.side_by_side else out
        bgr = cv2.cvtColor(view, cv2.COLOR_RGB2BGR)
        look = self.processor.look
        lines = [
            f"{self.fps:4.1f} fps  {self.latency_ms:4.0f} ms  "
            f"{display_name(self.styles[self.style_index])}  strength {look.strength:.1f}"
            + ("  colour" if look.preserve_color else "")
            + ("  REC" if self.recorder.active else "")
            + ("  PAUSED" if self.paused else "")
            + "   h: keys"
        ]
        if self.show_help:
            lines += [f"{k}: {v}" for k, v in KEYS]
        if self.message and time.perf_counter() < self.message_until:
            lines.append(self.message)
        return draw_text(bgr, lines)

    def _on_frame(self, frame: Frame, out: np.ndarray):
        now = time.perf_counter()
        if self.last is not None:
            dt = now - self.last[2]
            self.fps = 1 / dt if not self.fps else 0.9 * self.fps + 0.1 / max(dt, 1e-6)
        self.latency_ms = (now - frame.extra.get("captured", now)) * 1000
        self.latencies.append(self.latency_ms)
        self.last = (frame, out, now)
        if self.record_next is not None:
            target, self.record_next = self.record_next, None
            if target.suffix.lower() not in VIDEO_SUFFIXES:
                raise UserError(f"cannot record to {target.name}: use .mp4, .mov or .mkv")
            self.recorder.start(target, frame)
            self.say(f"recording to {target}")
        self.recorder.write(frame, out)
        self.shown.append(frame.index)
        self.shown_at.append(now)
        self.display.show(self.compose(frame, out))
        for sink in self.sinks:
            sink.send(out)

    @property
    def steady_fps(self) -> float:
        """Frames shown per second after the first (which also pays for compiling)."""
        t = self.shown_at
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def warm_up(self):
        """Compile the network for the source's frame size before capture starts: otherwise the
        first frame's compile (seconds) stalls the stream and the frames behind it are dropped."""
        w, h = getattr(self.capture, "size", (0, 0))
        if w > 0 and h > 0:
            self.processor(np.zeros((1, h, w, 3), np.uint8))

    def run(self) -> int:
        """Run until q/Esc, the end of a file source, or ``duration``; returns frames shown."""
        if self.record_next is not None and self.record_next.exists() and not self.options.overwrite:
            raise UserError(f"{self.record_next} already exists (use --overwrite to replace it)")
        self.warm_up()
        pipe = Pipeline(self.capture, self.processor, latest_only=True, stop_source=self.capture.stop)
        start = time.perf_counter()
        try:
            for item in pipe.results(poll=0.01):
                if item is not None and not self.paused:
                    self._on_frame(*item)
                elif item is None and self.last is not None and self.show_help | self.paused:
                    self.display.show(self.compose(*self.last[:2]))
                if not self.handle_key(self.display.key(1)):
                    break
                if self.options.duration and time.perf_counter() - start > self.options.duration:
                    break
        finally:
            pipe.stop()
            self.dropped = pipe.times.dropped
            recorded = self.recorder.stop()  # finalised even on errors, so it plays
            if recorded:
                self.log(f"recorded {recorded}")
            self.display.close()
            for sink in self.sinks:
                sink.close()
        return len(self.shown)


def style_list(first: str | None, bundled: list[str]) -> list[str]:
    """The style given first, then the bundled ones (without repeating it)."""
    out = [first] if first else []
    out += [b for b in bundled if b not in out]
    if not out:
        raise UserError("no styles: pass --style PATH.keras (no bundled styles installed)")
    return out
