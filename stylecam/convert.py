"""`stylecam convert`: a video, an image or a folder of images in, the stylized version out.

Outputs are written to a hidden temporary file beside the target and renamed into place
only when complete. The input is never overwritten; an existing output needs overwrite.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import atomic_output, check_writable
from .errors import UserError
from .image_io import IMAGE_SUFFIXES, read_image, read_image_alpha, write_image
from .pipeline import Pipeline, StageTimes
from .stylize import MAX_NETWORK_PIXELS, StyleProcessor
from .video_io import VIDEO_SUFFIXES, EncodeSettings, Frame, VideoReader, VideoWriter, probe


@dataclass
class Summary:
    output: Path
    frames: int
    seconds: float
    width: int
    height: int
    audio: bool = False
    times: StageTimes | None = None
    files: int = 1
    skipped: list = field(default_factory=list)  # inputs that could not be read
    notes: dict = field(default_factory=dict)  # what the output differs in from the input, and why

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        if not self.frames:
            return f"wrote nothing: no input in {self.output.name}'s source could be read"
        size = _size_of(self.output)
        what = f"{self.files} images" if self.files > 1 or self.output.is_dir() else f"{self.width}x{self.height}"
        audio = (
            (
                ", audio as AAC (its codec does not fit the container)"
                if self.notes.get("audio_transcoded")
                else ", audio copied"
            )
            if self.audio
            else ""
        )
        if self.notes.get("working_size"):
            what += f" (stylized at {self.notes['working_size']} and scaled back: a large frame; --max-size sets it)"
        if self.notes.get("padded_to"):
            what += f" (padded to {self.notes['padded_to']} by repeating the edge, for 4:2:0 that every player plays)"
        busy = ""
        if self.times is not None:
            t = self.times
            busy = f"; busy s: decode {t.source:.1f}, network {t.network:.1f}, encode {t.sink:.1f}"
        return (
            f"wrote {self.output}: {self.frames} frame{'s' * (self.frames != 1)} in {self.seconds:.1f} s "
            f"({self.fps:.1f} fps), {what}, {size}{audio}{busy}"
        )


def _size_of(path: Path) -> str:
    n = sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def kind_of(path: Path) -> str:
    if path.is_dir():
        return "folder"
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def default_output(input_path: Path, style_name: str) -> Path:
    input_path = Path(input_path)
    if input_path.is_dir():
        return input_path.with_name(f"{input_path.name}-{style_name}")
    suffix = input_path.suffix if kind_of(input_path) == "image" else ".mp4"
    return input_path.with_name(f"{input_path.stem}-{style_name}{suffix}")


def check_paths(src: Path, dst: Path, overwrite: bool) -> str:
    """Validate input and output before any work; returns the input's kind."""
    if not src.exists():
        raise UserError(f"input not found: {src}")
    kind = kind_of(src)
    if dst.resolve() == src.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise UserError(f"output {dst} is the input; choose another output name")
    if kind == "folder":
        if dst.exists() and not dst.is_dir():
            raise UserError(f"{src} is a folder, so the output must be a folder too, not {dst}")
    elif kind == "image":
        if dst.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"{src} is an image: give an image output (.png or .jpg), not {dst.name}")
    else:
        if dst.suffix.lower() in IMAGE_SUFFIXES:
            raise UserError(f"{src} is a video: give a video output ({', '.join(VIDEO_SUFFIXES)})")
        if dst.suffix.lower() not in VIDEO_SUFFIXES:
            raise UserError(f"cannot write video to {dst.name}: use an output ending in " + ", ".join(VIDEO_SUFFIXES))
    if kind != "folder" and dst.exists() and not overwrite:
        raise UserError(f"{dst} already exists (use --overwrite to replace it)")
    if dst.is_dir() and kind != "folder":
        raise UserError(f"{dst} is a folder; give a file name for the output")
    if not dst.parent.exists():
        raise UserError(f"output folder does not exist: {dst.parent}")
    check_writable(dst.parent)
    return kind


def _working_note(processor, width: int, height: int) -> dict:
    """The size the network stylized at, where large frames were scaled down for it."""
    size = getattr(processor, "working_size", None)
    if size and size != (width, height) and not processor.look.max_size:
        return {"working_size": f"{size[0]}x{size[1]}"}
    return {}


def _progress(total, desc):
    from tqdm import tqdm

    return tqdm(
        total=total, unit="frame", desc=desc, dynamic_ncols=True, leave=False, disable=None
    )  # None: off when stderr is not a terminal


# ---------------------------------------------------------------- the three kinds


def convert_video(
    src: Path,
    dst: Path,
    processor: StyleProcessor,
    batch: int = 4,
    settings: EncodeSettings | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Summary:
    info = probe(src)
    reader = VideoReader(src, info)
    start = time.perf_counter()
    writer = None
    # Large frames go one or two at a time: the queues then hold fewer of them (bounded memory).
    fits = MAX_NETWORK_PIXELS // max(1, info.width * info.height)
    batch = max(1, min(batch, fits))
    pipe = Pipeline(reader, processor, batch=batch, queue_size=None if fits else 2, stop_source=reader.close)
    bar = _progress(info.expected_frames, src.name) if progress else None
    with atomic_output(dst, overwrite) as tmp:
        try:
            for frame, out in pipe.results():
                if writer is None:
                    h, w = out.shape[:2]
                    writer = VideoWriter(
                        tmp,
                        w,
                        h,
                        frame.time_base,
                        audio_from=src if info.has_audio else None,
                        audio_start=info.start,
                        settings=settings,
                        audio_codecs=info.audio_codecs,
                    )
                writer.write(out, frame.pts, frame.duration)
                if bar is not None:
                    bar.update(1)
            if writer is None:
                raise UserError(f"{src} has no video frames")
            writer.close()
        except BaseException:
            pipe.stop()
            reader.close()
            if writer is not None:
                writer.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
    notes = {"audio_transcoded": writer.audio_transcoded, **_working_note(processor, writer.width, writer.height)}
    if any(writer.padded):
        notes["padded_to"] = f"{writer.width + writer.padded[1]}x{writer.height + writer.padded[0]}"
    seconds = time.perf_counter() - start
    return Summary(dst, writer.frames, seconds, writer.width, writer.height, info.has_audio, pipe.times, notes=notes)


def convert_image(src: Path, dst: Path, processor: StyleProcessor, overwrite: bool = False) -> Summary:
    start = time.perf_counter()
    image, alpha = read_image_alpha(src)
    out = processor(image[None])[0]
    write_image(dst, out, alpha, overwrite)
    h, w = out.shape[:2]
    return Summary(dst, 1, time.perf_counter() - start, w, h, notes=_working_note(processor, w, h))


def convert_folder(
    src: Path, dst: Path, processor: StyleProcessor, overwrite: bool = False, progress: bool = True
) -> Summary:
    images = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise UserError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {src}")
    targets = [dst / p.name for p in images]
    clash = [t for t in targets if t.exists()]
    if clash and not overwrite:
        raise UserError(f"{clash[0]} already exists ({len(clash)} outputs exist; use --overwrite)")
    created = not dst.exists()
    dst.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    unreadable: list[Path] = []

    def frames():
        for i, p in enumerate(images):
            try:
                image, alpha = read_image_alpha(p)
            except UserError:  # convert the rest; the summary names the bad ones
                unreadable.append(p)
                continue
            yield Frame(i, image, i, 1, 1, extra={"target": dst / p.name, "alpha": alpha})

    bar = _progress(len(images), src.name) if progress else None
    pipe = Pipeline(frames(), processor, batch=1)
    try:
        for frame, out in pipe.results():
            write_image(frame.extra["target"], out, frame.extra["alpha"], overwrite)
            if bar is not None:
                bar.update(1)
    finally:
        pipe.stop()
        if bar is not None:
            bar.close()
    done = len(images) - len(unreadable)
    if not done and created:
        dst.rmdir()
    return Summary(
        dst, done, time.perf_counter() - start, 0, 0, times=pipe.times, files=done, skipped=[p.name for p in unreadable]
    )


def convert_path(
    src,
    dst,
    processor_factory,
    batch: int = 4,
    overwrite: bool = False,
    settings: EncodeSettings | None = None,
    progress: bool = True,
) -> Summary:
    """Check the paths, then build the processor (slow: loads TensorFlow) and convert."""
    src, dst = Path(src), Path(dst)
    kind = check_paths(src, dst, overwrite)
    if kind == "video":
        probe(src)  # a bad input fails before the model loads
    elif kind == "image":
        read_image(src)
    processor = processor_factory()
    if kind == "folder":
        return convert_folder(src, dst, processor, overwrite, progress)
    if kind == "image":
        return convert_image(src, dst, processor, overwrite)
    return convert_video(src, dst, processor, batch, settings, progress, overwrite)
