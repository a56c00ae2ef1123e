"""Read and write still images (uint8 RGB), atomically on write."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .atomic import atomic_output
from .errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
ALPHA_SUFFIXES = {".png", ".webp", ".tif", ".tiff"}  # those that can carry transparency


def read_image(path) -> np.ndarray:
    return read_image_alpha(path)[0]


def read_image_alpha(path) -> tuple[np.ndarray, np.ndarray | None]:
    """(RGB uint8, its alpha channel as uint8 or None). EXIF orientation is applied; 16-bit and
    grey images come out as 8-bit RGB."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"{path} is not a readable image (PNG, JPEG, BMP, WebP or TIFF)")
    alpha = None
    if path.suffix.lower() in ALPHA_SUFFIXES:
        raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if raw is not None and raw.ndim == 3 and raw.shape[2] == 4 and raw.shape[:2] == image.shape[:2]:
            alpha = raw[..., 3] if raw.dtype == np.uint8 else (raw[..., 3] // 257).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), alpha


def write_image(path, image: np.ndarray, alpha: np.ndarray | None = None, overwrite: bool = True) -> Path:
    """Encode by the file's extension into a temp file beside it, then rename into place.
    ``alpha`` is kept where the format can carry it (PNG, WebP, TIFF) and dropped otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UserError(f"{path}: unknown image type (use .png or .jpg)")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if alpha is not None and suffix in ALPHA_SUFFIXES:
        bgr = np.dstack([bgr, alpha])
    ok, data = cv2.imencode(suffix, bgr)
    if not ok:
        raise UserError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite) as tmp:
        tmp.write_bytes(data.tobytes())
    return path
