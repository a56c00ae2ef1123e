"""Decode and encode video with the ffmpeg that imageio-ffmpeg bundles.

Timing: the reader reports each frame's presentation timestamp (from ffmpeg's showinfo
filter, in the decoder's time base, relative to the file's start) and the writer gives
ffmpeg those exact timestamps by piping frames in a minimal live Matroska stream (one
cluster per frame, nanosecond timestamps) instead of bare rawvideo, which could only
carry a constant frame rate. Variable-frame-rate inputs keep their timing.

Size: frames come out of the reader already rotated (ffmpeg applies the display
matrix). H.264 4:2:0 cannot code an odd width or height (its crop unit is 2 pixels),
so the writer encodes odd-sized frames as yuv444p (High 4:4:4): the output keeps the
exact input size; players without 4:4:4 support should use an even size (--max-size).
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import mkv
from .errors import UserError


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# ---------------------------------------------------------------- probing


@dataclass
class VideoInfo:
    path: Path
    width: int  # as displayed (after rotation)
    height: int
    fps: float  # nominal (container) frame rate; 0 if unknown
    duration: float  # seconds; 0 if unknown
    start: float  # the file's start time in seconds
    rotation: int  # degrees the display matrix rotates by
    audio_streams: int
    codec: str
    audio_codecs: tuple = ()

    @property
    def has_audio(self) -> bool:
        return self.audio_streams > 0

    @property
    def expected_frames(self) -> int | None:
        return round(self.duration * self.fps) if self.duration and self.fps else None


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)|Duration: N/A")
_START = re.compile(r"start: (-?\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d+)x(\d+)")
_FPS = re.compile(r", (\d+(?:\.\d+)?k?) (?:fps|tbr)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees|rotate\s*: (-?\d+)")


def _first_error(text: str) -> str:
    for line in text.splitlines():
        low = line.lower()
        if any(w in low for w in ("invalid", "error", "not found", "partial file", "corrupt")):
            return re.sub(r"^\[[^\]]*\]\s*", "", line.strip())[:160]
    return ""


def probe(path) -> VideoInfo:
    """Facts about a video file; a UserError when it is missing or not a readable video."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"input not found: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a video")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes)")
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True, errors="replace"
    )
    text = proc.stderr
    with open(path, "rb") as fh:
        head = fh.read(12)
    if "moov atom not found" in text and head[4:8] == b"ftyp":
        raise UserError(f"{path} is truncated or incomplete (its index, the 'moov atom', is missing)")
    video = None
    for line in text.splitlines():
        m = _VIDEO.search(line)
        if m and "attached pic" not in line and video is None:
            video = (m.group(1), int(m.group(2)), int(m.group(3)), line)
    if video is None:
        if re.search(r"Stream #\d+:\d+.*?: Audio:", text):
            raise UserError(f"{path} has sound but no pictures (an audio-only file): nothing to stylize")
        why = _first_error(text)
        raise UserError(f"{path} is not a video ffmpeg can read" + (f" ({why})" if why else ""))
    codec, width, height, vline = video
    fps_m = _FPS.search(vline)
    fps = 0.0
    if fps_m:
        f = fps_m.group(1)
        fps = float(f[:-1]) * 1000 if f.endswith("k") else float(f)
    dm = _DURATION.search(text)
    duration = 0.0
    if dm and dm.group(1):
        duration = int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3))
    sm = _START.search(text)
    rot = 0
    rm = _ROTATION.search(text.split("Stream #", 1)[1] if "Stream #" in text else "")
    if rm:
        rot = round(float(rm.group(1) or rm.group(2))) % 360
    if rot in (90, 270):
        width, height = height, width
    audio = tuple(re.findall(r"Stream #\d+:\d+.*?: Audio: (\w+)", text))
    start = float(sm.group(1)) if sm else 0.0
    return VideoInfo(path, width, height, fps, duration, start, rot, len(audio), codec, audio)


# ---------------------------------------------------------------- reading


@dataclass
class Frame:
    """One RGB frame and its timing; ``pts`` is in ``time_base`` units from the file's start."""

    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    pts: int
    duration: int
    time_base: Fraction
    extra: dict = field(default_factory=dict)

    @property
    def time(self) -> float:
        return float(self.pts * self.time_base)


_SHOWINFO = re.compile(r"n:\s*(\d+) pts:\s*(-?\d+) .*?duration:\s*(-?\d+).*? s:(\d+)x(\d+)")
_TIMEBASE = re.compile(r"config in time_base: (\d+)/(\d+)")


class VideoReader:
    """Iterate over a video's frames (rotated, RGB, at their original timestamps).

    Raises a UserError at the end when ffmpeg reports the file truncated or corrupt, or
    when it has no frames. ``close()`` stops the decoder early.
    """

    def __init__(self, path, info: VideoInfo | None = None):
        self.path = Path(path)
        self.info = info or probe(path)
        self.time_base = Fraction(1, 1)
        self._infos: queue.Queue = queue.Queue()
        self._log: list[str] = []
        self._truncated = False  # remembered, because later decoder errors push the line out of _log
        self._proc = subprocess.Popen(
            [
                ffmpeg_exe(),
                "-hide_banner",
                "-nostdin",
                "-nostats",
                "-loglevel",
                "info",
                "-i",
                str(self.path),
                "-map",
                "0:v:0",
                "-an",
                "-sn",
                "-dn",
                "-vf",
                "showinfo",
                "-fps_mode",
                "passthrough",
                "-pix_fmt",
                "rgb24",
                "-f",
                "rawvideo",
                "pipe:1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )  # Ctrl-C reaches Python, which stops ffmpeg itself
        self._stderr_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_thread.start()
        self.closed = False

    def _read_stderr(self):
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            # before the showinfo branch: ffmpeg's demuxer thread may print into a showinfo line
            if "partial file" in line or "moov atom not found" in line:
                self._truncated = True
            if "Parsed_showinfo" in line:
                m = _SHOWINFO.search(line)
                if m:
                    self._infos.put(tuple(int(g) for g in m.groups()))
                    continue
                t = _TIMEBASE.search(line)
                if t:
                    self.time_base = Fraction(int(t.group(1)), int(t.group(2)))
                continue
            self._log.append(line)
            del self._log[:-50]
        self._infos.put(None)

    def __iter__(self) -> Iterator[Frame]:
        count = 0
        while True:
            meta = self._infos.get()
            if meta is None:
                break
            n, pts, dur, w, h = meta
            nbytes = w * h * 3
            data = self._proc.stdout.read(nbytes)
            if len(data) < nbytes:
                break
            image = np.frombuffer(data, np.uint8).reshape(h, w, 3)
            yield Frame(count, image, pts, max(dur, 1), self.time_base)
            count += 1
        rc = self._proc.wait()
        self._stderr_thread.join()  # ffmpeg has exited, so its stderr ends: read all of it
        if self.closed:
            return
        log = "\n".join(self._log)
        if self._truncated or (rc != 0 and count):
            why = _first_error(log)
            raise UserError(
                f"{self.path} is truncated or corrupt: decoding stopped after "
                f"{count} frames" + (f" ({why})" if why else "")
            )
        if rc != 0:
            raise UserError(f"cannot decode {self.path}" + (f": {_first_error(log)}" if _first_error(log) else ""))
        if count == 0:
            raise UserError(f"{self.path} has no video frames")

    def close(self):
        self.closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._proc.stdout.close()


# ---------------------------------------------------------------- writing


@dataclass
class EncodeSettings:
    crf: int = 18
    preset: str = "medium"
    exact_size: bool = False  # odd sizes as H.264 4:4:4 (few players) instead of padded to even 4:2:0
    encoder: str = "libx264"  # or "nvenc": NVIDIA's hardware H.264 encoder

    def codec_args(self) -> list[str]:
        if self.encoder == "libx264":
            return ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf)]
        if self.encoder == "nvenc":
            # constant quality like x264's CRF; x264's preset names map to NVENC's p1 (fastest) .. p7
            preset = NVENC_PRESETS.get(self.preset, "p4")
            quality = ["-rc", "vbr", "-cq", str(self.crf), "-b:v", "0"]
            return ["-c:v", "h264_nvenc", "-preset", preset, "-tune", "hq", *quality]
        raise UserError(f"--encoder must be {' or '.join(ENCODERS)}, not {self.encoder!r}")

    def check(self) -> None:
        """A UserError now, before any work, for an unknown encoder or an NVENC that cannot start."""
        args = self.codec_args()
        if self.encoder == "libx264":
            return
        proc = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
             "color=size=256x256:rate=1", "-frames:v", "1", *args, "-f", "null", "-"],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise UserError(f"--encoder {self.encoder}: {nvenc_error(proc.stderr)}")


def nvenc_error(stderr: str) -> str:
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", line) for line in stderr.strip().splitlines()] or ["no output"]
    cause = next((line for line in lines if "Cannot load" in line or "No capable devices" in line), lines[0])
    return f"NVIDIA's encoder did not start ({cause}): it needs an NVIDIA GPU and driver; use --encoder libx264"


ENCODERS = ("libx264", "nvenc")
NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p3",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
    "placebo": "p7",
}


# Audio codecs an MP4 or MOV file carries that browsers and phones play; others become AAC.
MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3"}


class VideoWriter:
    """Encode RGB frames with their timestamps to H.264 (MP4/MOV/MKV by ``path``'s suffix).

    ``audio_from``: every audio stream of that file, copied where the container carries its codec
    (``audio_codecs``) and AAC otherwise, language kept (``audio_start`` is that file's start
    time, so audio stays in sync with timestamps measured from the start). An odd width or
    height is padded to even by repeating the edge (``padded``), for 4:2:0 that every player
    plays, unless ``settings.exact_size``.
    Call ``close()`` to finish the file or ``abort()`` to stop and leave whatever ffmpeg
    wrote (the caller deletes it).
    """

    def __init__(
        self,
        path,
        width: int,
        height: int,
        time_base: Fraction = Fraction(1, 1000),
        audio_from=None,
        audio_start: float = 0.0,
        settings: EncodeSettings | None = None,
        audio_codecs=(),
    ):
        s = self.settings = settings or EncodeSettings()
        self.path, self.width, self.height = Path(path), width, height
        self.time_base = Fraction(time_base)
        odd = bool(width % 2 or height % 2)
        self.pix_fmt = "yuv444p" if odd and s.exact_size else "yuv420p"
        self.padded = (height % 2, width % 2) if odd and not s.exact_size else (0, 0)
        enc_w, enc_h = width + self.padded[1], height + self.padded[0]
        mp4 = self.path.suffix.lower() in (".mp4", ".m4v", ".mov")
        self.audio_transcoded = mp4 and any(c not in MP4_AUDIO for c in audio_codecs)
        cmd = [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "error",
            "-y",
            "-copyts",
            "-f",
            "matroska",
            "-i",
            "pipe:0",
        ]
        if audio_from is not None:
            cmd += ["-itsoffset", f"{-audio_start:.6f}", "-i", str(audio_from)]
        cmd += ["-map", "0:v:0"]
        if audio_from is not None:
            cmd += ["-map", "1:a?", "-map_metadata", "1"]
            cmd += ["-c:a", "aac", "-b:a", "192k"] if self.audio_transcoded else ["-c:a", "copy"]
        cmd += [
            *s.codec_args(),
            "-vf",
            f"scale=out_color_matrix=bt709:out_range=tv,format={self.pix_fmt},"
            "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            f"{self.time_base.numerator}/{self.time_base.denominator}",
        ]
        if mp4:
            cmd += ["-movflags", "+faststart"]
        cmd += ["-f", _muxer(self.path), str(self.path)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self._err = b""
        self._err_thread = threading.Thread(target=self._read_err, daemon=True)
        self._err_thread.start()
        self._last_ns = -1
        self.frames = 0
        self._send(mkv.header(enc_w, enc_h))

    def _read_err(self):
        self._err = self._proc.stderr.read()

    def _send(self, data: bytes):
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise UserError(f"ffmpeg stopped writing {self.path}: {self._error_text()}") from None

    def _error_text(self) -> str:
        self._err_thread.join(timeout=5)
        text = self._err.decode("utf-8", "replace").strip()
        lines = [re.sub(r"^\[[^\]]*\]\s*", "", line) for line in text.splitlines()]
        if any(
            w in text
            for w in (
                "not currently supported in container",
                "Could not find tag for codec",
                "only supported in",
                "Could not write header",
            )
        ):
            return f"the input's audio cannot be copied into this container; use an .mkv output ({lines[0]})"
        if self.settings.encoder == "nvenc" and "nvenc" in text:
            return nvenc_error(text)
        return lines[0] if lines else f"exit status {self._proc.returncode}"

    def write(self, image: np.ndarray, pts: int, duration: int = 1):
        """Append a frame shown at ``pts`` (``time_base`` units) for ``duration`` units."""
        if image.shape != (self.height, self.width, 3):
            raise ValueError(f"frame {image.shape} != {(self.height, self.width, 3)}")
        ns = int(pts * self.time_base * 10**9)
        ns = max(ns, self._last_ns + 1, 0)  # timestamps must increase
        self._last_ns = ns
        dur_ns = int(duration * self.time_base * 10**9)
        if any(self.padded):
            image = np.pad(image, ((0, self.padded[0]), (0, self.padded[1]), (0, 0)), mode="edge")
        self._send(mkv.cluster(ns, dur_ns, np.ascontiguousarray(image, np.uint8)))
        self.frames += 1

    def close(self):
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        rc = self._proc.wait()
        if rc != 0:
            raise UserError(f"ffmpeg could not write {self.path}: {self._error_text()}")
        if self.frames == 0:
            raise UserError(f"no frames written to {self.path}")

    def abort(self):
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        try:
            self._proc.stdin.close()
        except OSError:
            pass


VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def _muxer(path: Path) -> str:
    try:
        return VIDEO_SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise UserError(
            f"cannot write video to {path.name}: use an output ending in " + ", ".join(VIDEO_SUFFIXES)
        ) from None
