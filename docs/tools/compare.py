"""Styles side by side: one row per photo, the photo then each style's output, each labelled.

    python docs/tools/compare.py OUT.jpg STYLE=LABEL ... [--width 240] [--photo PHOTO ...]

STYLE is a bundled name (``great-wave``, ``great-wave.fast``), a blend or a ``.keras`` file.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from frame_strip import label
from gallery import PHOTOS, fit

from stylecam.image_io import read_image
from stylecam.stylize import StyleProcessor, load_stylizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("styles", nargs="+", help="STYLE=LABEL")
    ap.add_argument("--width", type=int, default=240)
    ap.add_argument("--photo", action="append", help="default: the gallery's photos")
    args = ap.parse_args()
    photos = [fit(read_image(p), args.width) for p in args.photo or PHOTOS]
    columns = [[label(p, "photo") for p in photos]]
    for spec in args.styles:
        style, _, text = spec.partition("=")
        run = StyleProcessor(load_stylizer(style, "full", "float32"))
        columns.append([label(run(p[None])[0], text or style) for p in photos])
    sheet = np.vstack([np.hstack(row) for row in zip(*columns)])
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


if __name__ == "__main__":
    main()
