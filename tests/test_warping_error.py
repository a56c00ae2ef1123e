"""The warping error E_warp (Lai et al. 2018) on constructed videos, and `stylecam evaluate`."""

from __future__ import annotations

import functools
import json
import os

import cli_run
import cv2
import numpy as np
import pytest

from stylecam.errors import UserError
from training.warping_error import consistency_mask, pair_error, video_warping_errors, warping_error, warping_errors

ENV = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def texture(h, w, seed, sigma=1.5):
    """A smooth random colour texture using the full 0..255 range (DIS needs texture)."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), sigma), None, 0, 255, cv2.NORM_MINMAX)


def pan(frames=8, step=2, size=(64, 48), noise=0, seed=0):
    """A window sliding over a larger texture: every frame is the previous one shifted
    ``step`` px to the right (interior of the texture, no wrap-around)."""
    w, h = size
    big = texture(h + 16, w + step * frames + 16, seed)
    rng = np.random.default_rng(seed + 1)
    for t in range(frames):
        x0 = 8 + step * (frames - t)
        f = big[8 : 8 + h, x0 : x0 + w].copy()
        if noise:
            f = np.clip(f.astype(int) + rng.integers(-noise, noise + 1, f.shape), 0, 255).astype(np.uint8)
        yield f


def test_static_video_gives_zero():
    still = texture(48, 64, 3)
    r = warping_errors([still] * 6, {"same": [still] * 6})
    assert r.pairs == 5 and r.frames == 6 and r.skipped == 0 and r.coverage == 1.0
    assert r.errors["input"] < 1e-8 and r.errors["same"] < 1e-8


def test_known_translation_gives_about_zero():
    r = warping_errors(pan(step=2))
    assert r.pairs == 7 and r.size == (64, 48)
    assert r.errors["input"] < 1e-4  # about 1e-6 here: the flow floor
    assert 0.85 < r.coverage < 1.0  # the 2 px leaving the frame are masked
    # with the exact flow, an integer shift warps back exactly
    a, b = list(pan(frames=2, step=2))
    flow = np.zeros((48, 64, 2), np.float32)
    flow[..., 0] = 2.0
    mask = consistency_mask(flow, -flow)
    assert not mask[:, -2:].any() and mask[:, :-2].all()  # pixels leaving the frame are excluded
    assert pair_error(a, b, flow, mask) == pytest.approx(0.0, abs=1e-12)


def test_random_per_frame_noise_gives_a_large_value():
    still = texture(48, 64, 4)
    rng = np.random.default_rng(5)
    noise = [rng.integers(0, 256, still.shape).astype(np.uint8) for _ in range(6)]
    # E[(a - b)^2] for independent a, b uniform on [0, 1] is 1/6; channels are averaged
    assert warping_error([still] * 6, noise) == pytest.approx(1 / 6, rel=0.05)
    # +-40 grey levels of fresh noise per frame on a moving scene: ~ 2 * 80^2/12 / 255^2
    r = warping_errors(pan(), {"noisy": pan(noise=40)})
    assert 0.012 < r.errors["noisy"] < 0.025
    assert r.ratio("noisy") > 100


def test_masked_pixels_are_excluded():
    # exact flows for a 16 px square moving 3 px right over a static background
    h, w, x, v = 48, 64, 10, 3
    forward, backward = np.zeros((h, w, 2), np.float32), np.zeros((h, w, 2), np.float32)
    forward[16:32, x : x + 16, 0] = v
    backward[16:32, x + v : x + v + 16, 0] = -v
    mask = consistency_mask(forward, backward)
    occluded = np.zeros((h, w), bool)
    occluded[16:32, x + 16 : x + 16 + v] = True  # background the square covers at t
    assert not mask[occluded].any() and mask[~occluded].all()
    # outputs that disagree only where the mask is off score zero; unmasked they would not
    prev = np.full((h, w, 3), 100, np.uint8)
    prev[occluded] = 255
    cur = np.full((h, w, 3), 100, np.uint8)
    assert pair_error(prev, cur, forward, mask) == 0.0
    unmasked = occluded.mean() * (155 / 255) ** 2
    assert pair_error(prev, cur, forward, np.ones_like(mask)) == pytest.approx(unmasked, rel=1e-5)
    assert pair_error(prev, cur, forward, np.zeros_like(mask)) is None


def test_dis_flow_masks_a_real_occlusion():
    h, w, s, v, x = 120, 160, 48, 8, 26
    background, square = texture(h, w, 1), texture(s, s, 2)
    frames = []
    for t in range(2):
        f = background.copy()
        f[40 : 40 + s, x + v * t : x + v * t + s] = square
        frames.append(f)
    dis = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    mask = consistency_mask(dis.calc(g[0], g[1], None), dis.calc(g[1], g[0], None))
    assert mask[40 : 40 + s, x + s : x + s + v].mean() < 0.5  # mostly caught
    assert mask[44 : 36 + s, x + 4 : x + s - 4].mean() > 0.9  # the moving square is trusted
    assert mask[100:].mean() > 0.9  # so is the static background
    assert warping_error(frames) < 2e-3


def test_streams_must_match():
    still = texture(48, 64, 6)
    with pytest.raises(ValueError):
        warping_errors([still] * 3, {"out": [still[:40]] * 3})
    with pytest.raises(ValueError):
        warping_errors([still.astype(np.float32)] * 2)


def test_video_pipeline_aligns_frames(make_video):
    video = make_video("ewarp.mp4", size=(64, 48), frames=8, fps=10, audio=False)
    same = video_warping_errors(lambda batch: batch, video, batch=3)
    assert same.frames == 8 and same.pairs == 7
    assert same.errors["stylized"] == pytest.approx(same.errors["input"], abs=1e-12)
    rng = np.random.default_rng(7)

    def flicker(batch):
        return np.clip(batch + rng.integers(-40, 41, batch.shape), 0, 255).astype(np.uint8)

    noisy = video_warping_errors(flicker, video, max_frames=5, max_size=32)
    assert noisy.frames == 5 and noisy.size == (32, 24)
    assert noisy.errors["stylized"] > 10 * noisy.errors["input"]


stylecam = functools.partial(cli_run.stylecam, env=ENV)


@pytest.mark.slow
def test_cli_evaluate_json(make_video, tiny_model):
    video = make_video("ewarp.mp4", size=(64, 48), frames=8, fps=10, audio=False)
    r = stylecam("evaluate", "--model", tiny_model, "--video", video, "--max-frames", 6, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["model"] == str(tiny_model) and report["stills"] is None
    (v,) = report["videos"]
    assert (v["frames"], v["pairs"], v["width"], v["height"]) == (6, 5, 64, 48)
    assert 0 < v["mask_coverage"] <= 1
    # An untrained network may flicker more or less than its input: only the report's form is fixed.
    assert v["ewarp_input"] > 0 and v["ewarp_stylized"] > 0
    assert v["ratio"] == pytest.approx(v["ewarp_stylized"] / v["ewarp_input"])


@pytest.mark.slow
def test_evaluate_user_errors(tmp_path, tiny_model, make_video):
    from training.evaluate import evaluate_model

    with pytest.raises(UserError, match="video not found"):
        evaluate_model(str(tiny_model), [tmp_path / "missing.mp4"])
    with pytest.raises(UserError, match="nothing to evaluate"):
        evaluate_model(str(tiny_model))
    with pytest.raises(UserError, match="needs --style-image"):
        evaluate_model(str(tiny_model), stills=tmp_path)
    with pytest.raises(UserError, match="model file not found"):
        evaluate_model(str(tmp_path / "nope.keras"), [make_video(audio=False)])
    r = stylecam("evaluate", "--model", tiny_model, "--video", tmp_path / "missing.mp4")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"stylecam: error: video not found: {tmp_path / 'missing.mp4'}"
    ]
