"""`stylecam export`: each format runs in its own runtime and matches stylecam's output."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import pytest

from stylecam.export import MAX_MEAN_DIFF, MIN_PSNR_DB, check_export, export
from stylecam.network import build_network

PHOTO = "samples/photos/macaw.jpg"  # a photo no network trained on


def photo(width, height):
    image = cv2.cvtColor(cv2.imread(PHOTO), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def nets():
    return {d: build_network(d, width=4, residual_blocks=1) for d in ("full", "fast")}


@pytest.mark.slow
@pytest.mark.parametrize("design", ["full", "fast"])
@pytest.mark.parametrize("fmt, name", [("onnx", "s.onnx"), ("tflite", "s.tflite"), ("saved_model", "s")])
def test_every_export_matches_stylecam_in_its_runtime(nets, design, fmt, name, tmp_path):
    size = (96, 72) if fmt == "tflite" else None
    path = export(nets[design], fmt, tmp_path / name, size)
    check = check_export(fmt, path, nets[design], photo(96, 72))
    assert check.psnr_db >= MIN_PSNR_DB and check.mean_diff <= MAX_MEAN_DIFF, check.line()
    if fmt != "tflite":  # any frame size, odd ones included
        check = check_export(fmt, path, nets[design], photo(61, 45))
        assert check.ok, check.line()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # nothing half-written beside it


def stylecam(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "stylecam.cli", "export", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.slow
def test_export_errors_are_one_line_and_write_nothing(tmp_path, tiny_model):
    exists = tmp_path / "exists.onnx"
    exists.write_bytes(b"keep")
    for args, words in [
        ((tiny_model, "--format", "coreml", "-o", tmp_path / "x.onnx"), "--format must be one of"),
        (("no-such-style", "--format", "onnx", "-o", tmp_path / "x.onnx"), "unknown style"),
        ((tiny_model, "--format", "onnx", "-o", exists), "already exists"),
        ((tiny_model, "--format", "onnx", "-o", tmp_path / "x.tflite"), "is a .onnx file"),
        ((tiny_model, "--format", "tflite", "-o", tmp_path / "x.tflite"), "--size"),
        ((tiny_model, "--format", "onnx", "-o", tmp_path / "missing" / "x.onnx"), "does not exist"),
    ]:
        r = stylecam(*args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.onnx"] and exists.read_bytes() == b"keep"


@pytest.mark.slow
def test_export_command_checks_what_it_wrote(tmp_path, tiny_model):
    r = stylecam(tiny_model, "--format", "onnx", "-o", tmp_path / "tiny.onnx")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "PSNR" in r.stdout and "fps in its runtime" in r.stdout
