"""A minimal Matroska writer for uncompressed RGB frames, streamed to ffmpeg's stdin.

Raw video piped as ``-f rawvideo`` carries no timestamps; each Matroska block carries its own,
so variable frame rates and gaps reach the encoder exactly.
"""

from __future__ import annotations

import struct

import numpy as np


def _vint_size(n: int) -> bytes:
    return bytes([0x01]) + n.to_bytes(7, "big")  # 8-byte EBML size


_UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def _el(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _vint_size(len(payload)) + payload


def _uint(eid: int, v: int) -> bytes:
    return _el(eid, v.to_bytes(8, "big"))


def header(width: int, height: int) -> bytes:
    ebml = _el(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _el(0x4282, b"matroska")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    info = _el(0x1549A966, _uint(0x2AD7B1, 1) + _el(0x4D80, b"stylecam") + _el(0x5741, b"stylecam"))
    video = _el(0xE0, _uint(0xB0, width) + _uint(0xBA, height) + _el(0x2EB524, b"RGB\x18"))
    track = _el(
        0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _uint(0x9C, 0) + _el(0x86, b"V_UNCOMPRESSED") + video
    )
    return ebml + b"\x18\x53\x80\x67" + _UNKNOWN_SIZE + info + _el(0x1654AE6B, track)


def cluster(ts_ns: int, dur_ns: int, image: np.ndarray) -> bytes:
    block = _el(0xA1, b"\x81" + struct.pack(">hB", 0, 0) + image.tobytes())
    group = _el(0xA0, block + _uint(0x9B, max(dur_ns, 1)))
    return _el(0x1F43B675, _uint(0xE7, ts_ns) + group)
