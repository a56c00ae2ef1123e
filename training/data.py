"""Training crops from a folder of photos: random scale jitter, random crop, random flip."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_rgb(path) -> np.ndarray:
    """uint8 RGB HxWx3, or ValueError with the reason."""
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    f = size / max(h, w)
    if f == 1:
        return image
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=interp)


def load_folder(folder, max_side: int) -> list[np.ndarray]:
    """Every readable image in ``folder`` (recursively), downscaled so its long side <= max_side.

    Unreadable files are skipped with a warning; no image at all is an error.
    """
    images = []
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            image = read_rgb(path)
        except ValueError as e:
            warnings.warn(f"skipping {e}", stacklevel=2)
            continue
        images.append(resize_long_side(image, max_side) if max(image.shape[:2]) > max_side else image)
    if not images:
        raise ValueError(f"{folder}: no readable images")
    return images


class RandomCrops:
    """Infinite batches of ``size`` x ``size`` float32 crops in [0, 255].

    Each crop covers a random square of side ``scale`` * the photo's short side, scale
    drawn from ``scale_range``, resized to ``size``; half are flipped left-right.
    """

    def __init__(self, images, size=256, batch=4, scale_range=(0.5, 1.0), seed=None):
        self.images, self.size, self.batch = images, size, batch
        self.scale_range = scale_range
        self.rng = np.random.default_rng(seed)

    def crop(self) -> np.ndarray:
        image = self.images[self.rng.integers(len(self.images))]
        h, w = image.shape[:2]
        side = max(8, int(round(min(h, w) * self.rng.uniform(*self.scale_range))))
        y, x = self.rng.integers(0, h - side + 1), self.rng.integers(0, w - side + 1)
        patch = image[y : y + side, x : x + side]
        interp = cv2.INTER_AREA if side > self.size else cv2.INTER_CUBIC
        patch = cv2.resize(patch, (self.size, self.size), interpolation=interp)
        return patch[:, ::-1] if self.rng.random() < 0.5 else patch

    def __iter__(self):
        while True:
            yield (np.stack([self.crop() for _ in range(self.batch)]).astype("float32"),)
