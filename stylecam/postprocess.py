"""After the network: blend with the original (strength) and keep the original's colours."""
from __future__ import annotations

import cv2
import numpy as np


def blend(original: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` 1 is the stylized frame, 0 the original; uint8 in, uint8 out."""
    strength = float(np.clip(strength, 0.0, 1.0))
    if strength >= 1.0:
        return stylized
    if strength <= 0.0:
        return original.copy()
    out = original.astype(np.float32) * (1.0 - strength) + stylized.astype(np.float32) * strength
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def preserve_color(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Stylized luminance with the original's chroma (YCrCb), for one RGB frame or a batch."""
    if original.ndim == 4:
        return np.stack([preserve_color(o, s) for o, s in zip(original, stylized)])
    ycc = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[..., 0]
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def finish(original: np.ndarray, stylized: np.ndarray, strength: float = 1.0,
           keep_color: bool = False) -> np.ndarray:
    """Colour preservation first, then the strength blend."""
    if keep_color:
        stylized = preserve_color(original, stylized)
    return blend(original, stylized, strength)
