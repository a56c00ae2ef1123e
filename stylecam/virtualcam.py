"""`stylecam live --virtual-camera`: the stylized frames as a camera other programs can pick
(video calls, OBS, browsers), through pyvirtualcam (v4l2loopback on Linux, OBS's virtual camera
on Windows and macOS)."""

from __future__ import annotations

import sys

import numpy as np

from .errors import UserError

HOW_TO = {
    "linux": "install v4l2loopback and run `sudo modprobe v4l2loopback exclusive_caps=1 card_label=stylecam`",
    "darwin": "install OBS Studio and start its virtual camera once",
    "win32": "install OBS Studio and start its virtual camera once",
}


def how_to() -> str:
    return HOW_TO.get(sys.platform, HOW_TO["linux"])


class VirtualCamera:
    """Opens the virtual camera at once (so a missing or busy device is said before the model
    loads); ``send`` takes (H, W, 3) uint8 RGB frames of the size given."""

    def __init__(self, width: int, height: int, fps: float, device: str | None = None):
        try:
            import pyvirtualcam
        except ImportError:
            raise UserError("--virtual-camera needs pyvirtualcam: pip install 'stylecam[virtual-camera]'") from None
        self.size = (int(width), int(height))
        try:
            self.camera = pyvirtualcam.Camera(
                width, height, fps or 30.0, fmt=pyvirtualcam.PixelFormat.RGB, device=device, print_fps=False
            )
        except RuntimeError as e:
            reason = str(e).split(". ")[0].strip()
            raise UserError(f"--virtual-camera: {reason}; to create one, {how_to()}") from None
        self.device = self.camera.device

    def send(self, rgb: np.ndarray) -> None:
        if rgb.shape[1::-1] != self.size:  # side by side ("o") or a resized stream: fit the camera
            import cv2

            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self.camera.send(np.ascontiguousarray(rgb))

    def close(self) -> None:
        self.camera.close()
