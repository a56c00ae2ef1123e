"""Consecutive frames of a video through several models, with their flicker made visible.

    python docs/tools/frame_strip.py VIDEO OUT.png --model A.keras --model B.keras [--start N]

Rows: the input frames; per model, its stylized frames, then |O(t-1) - warp(O(t))| (the
per-pixel term of E_warp, x4, black where the flow check masks the pixel out).
"""

from __future__ import annotations

import argparse
import itertools

import cv2
import numpy as np

from stylecam.stylize import StyleProcessor, load_stylizer
from training.warping_error import DIS_PRESET, consistency_mask, video_frames, warp


def label(image: np.ndarray, text: str) -> np.ndarray:
    # White on a black box: a thick black outline under thin white text read as doubled glyphs.
    out = image.copy()
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    cv2.rectangle(out, (2, 2), (10 + w, 8 + h + base), (0, 0, 0), cv2.FILLED)
    cv2.putText(out, text, (6, 5 + h), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("output")
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--name", action="append", help="row labels, one per --model")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--max-size", type=int, default=256)
    a = ap.parse_args()
    frames = list(itertools.islice(video_frames(a.video, a.start + a.frames, a.max_size), a.start, None))
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    dis = cv2.DISOpticalFlow_create(DIS_PRESET)
    flows = [
        (dis.calc(gray[i - 1], gray[i], None), dis.calc(gray[i], gray[i - 1], None)) for i in range(1, len(frames))
    ]
    rows = [[label(f, "input" if i == 0 else f"t+{i}") for i, f in enumerate(frames)]]
    for n, model in enumerate(a.model):
        name = a.name[n] if a.name and n < len(a.name) else model
        out = StyleProcessor(load_stylizer(model, precision="float32"))(np.stack(frames))
        rows.append([label(o, name) for o in out])
        heat = [np.zeros_like(out[0])]
        for i, (fwd, bwd) in enumerate(flows, start=1):
            mask = consistency_mask(fwd, bwd)
            d = np.abs(out[i - 1].astype(np.float32) - warp(out[i], fwd)) * mask[..., None]
            heat.append(np.clip(4 * d, 0, 255).astype(np.uint8))
        rows.append([label(h, f"{name}: flicker x4") for h in heat])
    sheet = np.vstack([np.hstack(r) for r in rows])
    cv2.imwrite(a.output, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(a.output, sheet.shape)


if __name__ == "__main__":
    main()
