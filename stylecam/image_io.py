"""Read and write still images (uint8 RGB), atomically on write."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .atomic import atomic_output
from .errors import UserError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"{path} is not a readable image (PNG, JPEG, BMP, WebP or TIFF)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image(path, image: np.ndarray) -> Path:
    """Encode by the file's extension into a temp file beside it, then rename into place."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise UserError(f"{path}: unknown image type (use .png or .jpg)")
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UserError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path
