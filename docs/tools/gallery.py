"""The README's gallery: every bundled style, full and fast, on the same sample photos.

    python docs/tools/gallery.py [--width 240] [--out docs/gallery] [--sheet sheet.png] [STYLE ...]

Writes PHOTO.jpg and PHOTO-STYLE.jpg / PHOTO-STYLE-fast.jpg; ``--sheet`` also writes them all as
one PNG (rows: styles) to look at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from stylecam.image_io import read_image
from stylecam.styles import bundled_styles
from stylecam.stylize import StyleProcessor, load_stylizer

PHOTOS = ("samples/photos/seedling.jpg", "samples/photos/city-panorama.jpg")  # held out from training


def fit(image: np.ndarray, width: int) -> np.ndarray:
    h = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, h), interpolation=cv2.INTER_AREA)


def save(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=240)
    ap.add_argument("--out", type=Path, default=Path("docs/gallery"))
    ap.add_argument("--sheet", type=Path)
    ap.add_argument("styles", nargs="*", help="bundled styles to draw (default: all)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photos = {Path(p).stem: fit(read_image(p), args.width) for p in PHOTOS}
    rows = []
    for name in args.styles or dict.fromkeys(s.name for s in bundled_styles()):
        row = []
        for quality in ("full", "fast"):
            run = StyleProcessor(load_stylizer(name, quality, "float32"))
            for stem, photo in photos.items():
                out = run(photo[None])[0]
                suffix = "" if quality == "full" else "-fast"
                save(args.out / f"{stem}-{name}{suffix}.jpg", out)
                row.append(out)
        tall = max(im.shape[0] for im in row)
        rows.append(np.hstack([np.pad(im, ((0, tall - im.shape[0]), (0, 0), (0, 0))) for im in row]))
        print(name, flush=True)
    for stem, photo in photos.items():
        cv2.imwrite(
            str(args.out / f"{stem}.jpg"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88]
        )
    if args.sheet:
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
