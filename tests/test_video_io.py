"""Decoding and encoding: timing, size, rotation, audio, bad inputs (no network involved)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_VIDEOS
from media import audio_duration, read_timing

from stylecam.errors import UserError
from stylecam.video_io import EncodeSettings, VideoReader, VideoWriter, probe


def copy_video(src, dst, transform=lambda img: img, settings=None):
    """Decode ``src`` and re-encode every frame at its own timestamp (audio copied)."""
    info = probe(src)
    writer = None
    for f in VideoReader(src, info):
        if writer is None:
            writer = VideoWriter(
                dst,
                f.image.shape[1],
                f.image.shape[0],
                f.time_base,
                audio_from=src if info.has_audio else None,
                audio_start=info.start,
                settings=settings,
                audio_codecs=info.audio_codecs,
            )
        writer.write(transform(f.image), f.pts, f.duration)
    writer.close()
    return writer


def test_probe_reports_size_rate_duration_audio(make_video):
    info = probe(make_video(size=(64, 48), frames=20, fps=10))
    assert (info.width, info.height, info.fps) == (64, 48, 10)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.has_audio and info.expected_frames == 20


def test_reader_gives_rgb_frames_with_timestamps(make_video):
    frames = list(VideoReader(make_video(frames=20, fps=10, audio=False)))
    assert len(frames) == 20
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype.name == "uint8"
    assert [round(f.time, 3) for f in frames[:3]] == [0.0, 0.1, 0.2]


def test_roundtrip_keeps_count_rate_size_and_audio(make_video, tmp_path):
    src = make_video(frames=20, fps=10, audio=True)
    out = tmp_path / "out.mp4"
    copy_video(src, out)
    a, b = probe(src), probe(out)
    assert (b.width, b.height, b.fps) == (64, 48, 10)
    assert b.duration == pytest.approx(a.duration, abs=0.05)
    assert read_timing(out).frames == 20
    assert b.audio_streams == 1
    assert audio_duration(out) == pytest.approx(audio_duration(src), abs=0.03)


def test_variable_frame_rate_timing_is_kept(make_video, tmp_path):
    src = make_video("vfr.mp4", frames=20, fps=10, audio=False, vfr=True)
    out = tmp_path / "vfr-out.mp4"
    copy_video(src, out)
    want, got = read_timing(src).timestamps, read_timing(out).timestamps
    assert want[10] - want[9] == pytest.approx(0.6)  # the gap is really in the input
    assert got == pytest.approx(want, abs=1e-3)


def ffprobe_streams(path) -> list[str]:
    import subprocess

    from stylecam.video_io import ffmpeg_exe

    # imageio-ffmpeg ships ffmpeg only: read the streams from ffmpeg's own report of the file.
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return [line.strip() for line in proc.stderr.splitlines() if "Stream #" in line]


def test_odd_size_comes_out_exact_when_asked(make_video, tmp_path):
    src = make_video("odd.mp4", size=(63, 47), frames=10, audio=False)
    out = tmp_path / "odd-out.mp4"
    w = copy_video(src, out, settings=EncodeSettings(exact_size=True))
    assert w.pix_fmt == "yuv444p"
    t = read_timing(out)
    assert (t.width, t.height, t.frames) == (63, 47, 10)


def test_odd_size_is_padded_to_even_4_2_0_by_its_edge_pixels(make_video, tmp_path):
    src = make_video("odd.mp4", size=(63, 47), frames=10, audio=False, source="smptebars")
    out = tmp_path / "odd-out.mp4"
    w = copy_video(src, out)
    assert w.pix_fmt == "yuv420p" and w.padded == (1, 1)
    (video,) = ffprobe_streams(out)
    assert "yuv420p" in video and "64x48" in video
    frame = next(iter(VideoReader(out))).image.astype(int)
    assert np.abs(frame[:, 63] - frame[:, 62]).mean() < 6 and np.abs(frame[47] - frame[46]).mean() < 6


def test_audio_mp4_cannot_carry_becomes_aac_with_its_language(make_video, tmp_path):
    from conftest import ffmpeg

    src = tmp_path / "vorbis.mkv"
    ffmpeg("-i", str(make_video(frames=20, audio=False)), "-f", "lavfi", "-i", "sine=duration=2",
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "libvorbis", "-metadata:s:a:0", "language=fra",
           "-shortest", str(src))  # fmt: skip
    assert probe(src).audio_codecs == ("vorbis",)
    out = tmp_path / "out.mp4"
    w = copy_video(src, out)
    assert w.audio_transcoded
    streams = ffprobe_streams(out)
    audio = [s for s in streams if "Audio:" in s]
    assert len(audio) == 1 and "Audio: aac" in audio[0] and "(fra)" in audio[0], streams
    assert audio_duration(out) > 1.5
    copied = copy_video(out, tmp_path / "again.mp4")  # AAC fits: copied, not encoded again
    assert not copied.audio_transcoded


def test_rotation_is_applied_and_not_applied_twice(make_video, tmp_path):
    src = make_video("rot.mp4", size=(64, 48), frames=6, audio=False, rotate=90)
    info = probe(src)
    assert info.rotation == 90 and (info.width, info.height) == (48, 64)
    out = tmp_path / "rot-out.mp4"
    copy_video(src, out)
    o = probe(out)
    assert o.rotation == 0 and (o.width, o.height) == (48, 64)


@pytest.mark.skipif(not (SHARED_VIDEOS / "tree.avi").exists(), reason="shared tree.avi not present")
def test_tree_avi_68_frames_over_29_6_seconds(tmp_path):
    out = tmp_path / "tree.mp4"
    copy_video(SHARED_VIDEOS / "tree.avi", out)
    want, got = read_timing(SHARED_VIDEOS / "tree.avi"), read_timing(out)
    assert want.frames == got.frames == 68
    assert got.timestamps == pytest.approx(want.timestamps, abs=1e-3)
    assert probe(out).duration == pytest.approx(29.6, abs=0.05)


# ---------------------------------------------------------------- bad inputs


def test_missing_empty_and_not_a_video(tmp_path):
    with pytest.raises(UserError, match="not found"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        probe(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("hello, I am not a video\n" * 50)
    with pytest.raises(UserError, match="not a video"):
        probe(tmp_path / "text.mp4")


def test_truncated_without_index_is_refused(make_video, tmp_path):
    src = make_video("noindex.mp4", frames=20, audio=False, faststart=False)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated"):
        probe(cut)


def test_truncated_data_stops_with_clear_error(make_video, tmp_path):
    src = make_video("big.mp4", size=(64, 48), frames=60, audio=False, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size * 2 // 3])
    with pytest.raises(UserError, match="truncated or corrupt"):
        list(VideoReader(cut))
