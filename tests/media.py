"""Checks of written media files, for the tests: frame timestamps and audio length."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from stylecam.video_io import VideoReader, ffmpeg_exe


@dataclass
class StreamTiming:
    frames: int
    timestamps: list[float]  # seconds, presentation order
    width: int
    height: int


def read_timing(path) -> StreamTiming:
    """Count a file's video frames and their timestamps (a full decode; for tests and checks)."""
    reader = VideoReader(path)
    ts, w, h = [], 0, 0
    for f in reader:
        ts.append(f.time)
        h, w = f.image.shape[:2]
    return StreamTiming(len(ts), ts, w, h)


def audio_duration(path) -> float:
    """Seconds of the first audio stream (decoded), 0.0 if there is none."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0?", "-vn", "-f", "null", os.devnull],
        capture_output=True,
        text=True,
    )
    times = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", proc.stderr)
    if not times or "Audio" not in proc.stderr:
        return 0.0
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)
