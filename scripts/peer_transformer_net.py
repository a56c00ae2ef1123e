"""The peer for `stylecam bench`: pytorch/examples' fast_neural_style TransformerNet, timed the
way stylecam is (uint8 frames from the host in, uint8 frames back), as JSON.

The network is written here from its published architecture (Johnson et al. with instance
normalisation and nearest-neighbour up-sampling), untrained: speed does not depend on weights.

    python scripts/peer_transformer_net.py --sizes 1280x720 --batches 1,8,32 -o peer.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch
from torch import nn


class ConvLayer(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x):
        if self.upsample:
            x = nn.functional.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return self.conv(self.pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True)
        self.conv2, self.in2 = ConvLayer(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x):
        y = torch.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class TransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(3, 32, 9), nn.InstanceNorm2d(32, affine=True)
        self.conv2, self.in2 = ConvLayer(32, 64, 3, stride=2), nn.InstanceNorm2d(64, affine=True)
        self.conv3, self.in3 = ConvLayer(64, 128, 3, stride=2), nn.InstanceNorm2d(128, affine=True)
        self.res = nn.Sequential(*[ResidualBlock(128) for _ in range(5)])
        self.deconv1, self.in4 = ConvLayer(128, 64, 3, upsample=2), nn.InstanceNorm2d(64, affine=True)
        self.deconv2, self.in5 = ConvLayer(64, 32, 3, upsample=2), nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9)

    def forward(self, x):
        y = torch.relu(self.in1(self.conv1(x)))
        y = torch.relu(self.in2(self.conv2(y)))
        y = torch.relu(self.in3(self.conv3(y)))
        y = self.res(y)
        y = torch.relu(self.in4(self.deconv1(y)))
        y = torch.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


# (name, dtype, channels_last, compiled)
VARIANTS = {
    "eager-float32": (torch.float32, False, False),
    "eager-float16-channels_last": (torch.float16, True, False),
    "compile-float16-channels_last": (torch.float16, True, True),
}


def make_step(variant: str, device: str):
    dtype, channels_last, compiled = VARIANTS[variant]
    net = TransformerNet().to(device).eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(dtype=dtype, memory_format=fmt)
    body = torch.compile(net) if compiled else net

    @torch.inference_mode()
    def step(frames_u8):  # (N, H, W, 3) uint8 on the host, like stylecam's frames
        x = frames_u8.to(device, non_blocking=True).permute(0, 3, 1, 2).to(dtype)
        x = x.contiguous(memory_format=fmt)
        y = body(x).clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        return y.cpu()

    return step


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(variant, device, w, h, batch, repeats, warmup):
    step = make_step(variant, device)
    frames = torch.randint(0, 256, (batch, h, w, 3), dtype=torch.uint8)
    if device.startswith("cuda"):
        frames = frames.pin_memory()
    t = time.perf_counter()
    out = step(frames)
    sync(device)
    first = time.perf_counter() - t
    assert out.shape == frames.shape and out.dtype == torch.uint8
    for _ in range(warmup):
        step(frames)
    runs = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        step(frames)
        sync(device)
        runs.append(time.perf_counter() - t)
    fps = [batch / s for s in runs]
    med = statistics.median(fps)
    return {"first_call_s": first, "fps_median": med, "ms_per_frame_median": 1e3 / med, "run_seconds": runs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080,3840x2160")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("-o", "--output", help="write the JSON here too (rewritten after every case)")
    a = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    batches = [int(b) for b in a.batches.split(",")]
    report = {
        "peer": "pytorch/examples fast_neural_style TransformerNet (untrained), uint8 host frames in and out",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor() or "cpu",
        "results": [],
    }
    torch.backends.cudnn.benchmark = True
    for variant in a.variants.split(","):
        for w, h in sizes:
            for batch in batches:
                row = {"variant": variant, "size": f"{w}x{h}", "batch": batch}
                try:
                    row.update(status="ok", **measure(variant, a.device, w, h, batch, a.repeats, a.warmup))
                except torch.OutOfMemoryError as e:
                    row.update(status="skipped", reason=f"out of memory: {str(e).splitlines()[0][:200]}")
                except Exception as e:  # noqa: BLE001 - a variant this torch cannot run here
                    row.update(status="failed", reason=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
                finally:
                    if a.device.startswith("cuda"):
                        torch.cuda.empty_cache()
                report["results"].append(row)
                fps = f"{row['fps_median']:.1f} fps" if row["status"] == "ok" else row["reason"]
                print(f"{variant:32s} {w}x{h} batch {batch:3d}: {fps}", file=sys.stderr, flush=True)
                if a.output:
                    with open(a.output, "w") as f:
                        json.dump(report, f, indent=1)
    json.dump(report, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
