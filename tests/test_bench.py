"""`stylecam bench`: FLOP counting, precision selection, the report, and the JAX backend."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest
from conftest import needs_jax, run_under_jax

from stylecam import bench, bench_report, tuning
from stylecam.flops import count_flops


def conv(k, cin, cout, h, w):
    return 2 * k * k * cin * cout * h * w


def test_flops_match_a_hand_count(tiny_net):
    # width 4, one residual block, a 16x16 frame (already a multiple of 4):
    hand = (
        conv(9, 3, 4, 16, 16)  # conv1: pad 4 -> 24x24, 9x9 -> 16x16
        + conv(3, 4, 8, 8, 8)  # conv2: pad 1 -> 18x18, stride 2 -> 8x8
        + conv(3, 8, 16, 4, 4)  # conv3: 10x10, stride 2 -> 4x4
        + 2 * conv(3, 16, 16, 4, 4)  # res1 first and second
        + conv(3, 16, 8, 8, 8)  # deconv1: upsample 4 -> 8, pad -> 10, 3x3 -> 8
        + conv(3, 8, 4, 16, 16)  # deconv2: 8 -> 16
        + conv(9, 4, 3, 16, 16)  # deconv3
    )
    assert hand == 1_511_424
    counted = count_flops(tiny_net, 16, 16)
    assert counted.total == hand
    assert [c.name for c in counted.convs][:3] == ["conv1.conv", "conv2.conv", "conv3.conv"]
    # The network pads a frame to a multiple of 4 first: 14x18 costs what 16x20 does.
    assert count_flops(tiny_net, 14, 18).total == count_flops(tiny_net, 16, 20).total


def test_full_johnson_network_flops():
    from stylecam.network import build_network

    net = build_network()  # 32 wide, 5 residual blocks: 1.68 M parameters
    assert net.count_params() == 1_679_235
    assert count_flops(net, 360, 640).gflop == pytest.approx(70.87, abs=0.01)
    assert count_flops(net, 720, 1280).gflop == pytest.approx(4 * 70.87, abs=0.05)


def test_psnr():
    a = np.zeros((4, 4, 3), np.uint8)
    assert tuning.psnr(a, a) == math.inf
    assert tuning.psnr(a, a + 1) == pytest.approx(20 * math.log10(255), abs=1e-9)


# ---------------------------------------------------------------- precision

FRAME = tuning.test_frame(24, 32)
QUALITY_PSNR = tuning.quality_psnr


@pytest.fixture
def bf16_native(monkeypatch):
    def set_native(native: bool):
        monkeypatch.setattr(tuning, "native_bfloat16", lambda: native)

    return set_native


def test_a_reduced_precision_network_keeps_the_weights(tiny_net):
    reduced = tuning.inference_net(tiny_net, "bfloat16")
    conv = reduced.conv1.conv
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"  # the mixed policy reached the layers
    for a, b in zip(reduced.get_weights(), tiny_net.get_weights()):
        np.testing.assert_array_equal(a, b)
    from stylecam.stylizer import Stylizer

    assert tuning.psnr(Stylizer(tiny_net)(FRAME), Stylizer(reduced)(FRAME)) > 20  # rounding, not another network


def test_float16_on_cpu_without_fp16_is_unsupported(monkeypatch):
    monkeypatch.setattr(tuning, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert tuning.precision_unsupported("float32", gpu=False) is None
    assert "avx512_fp16" in tuning.precision_unsupported("float16", gpu=False)
    assert tuning.precision_unsupported("float16", gpu=True) is None


def test_recommendation_skips_emulated_and_low_quality_precisions():
    def row(p, fps, **kw):
        return {"style": "s", "precision": p, "status": "ok", "network": {"fps_median": fps}, **kw}

    rows = [
        row("float32", 1.0),
        row("bfloat16", 3.0, quality_ok=True, note="measured although emulated"),
        row("float16", 2.0, quality_ok=False),
    ]
    assert bench.recommend(rows) == {"s": "float32"}
    rows.append(row("bfloat16", 0.5, quality_ok=True) | {"style": "t"})
    rows.append(row("float32", 0.4) | {"style": "t"})
    assert bench.recommend(rows)["t"] == "bfloat16"
    rows += [row("float32", 1.0) | {"style": "u"}, row("bfloat16", 1.03, quality_ok=True) | {"style": "u"}]
    assert bench.recommend(rows)["u"] == "float32"  # 3% faster: under auto's 5% margin


# ---------------------------------------------------------------- the command


def test_options_are_checked():
    from stylecam.errors import UserError

    assert bench.parse_sizes("640x360, 32X24") == [(640, 360), (32, 24)]
    assert bench.parse_precisions("fp32,bf16") == ["float32", "bfloat16"]
    for bad in ("640", "axb", "4x4"):
        with pytest.raises(UserError):
            bench.parse_sizes(bad)
    with pytest.raises(UserError):
        bench.parse_precisions("int8")
    with pytest.raises(UserError):
        bench.parse_batches("0")
    assert bench._pipeline_frames(5, [1, 2, 4]) == 8


@pytest.mark.slow
def test_bench_command_json(tmp_path, bf16_native, monkeypatch):
    """A tiny run through the CLI: the JSON has every field, with sane values."""
    from typer.testing import CliRunner

    from stylecam.cli import app
    from stylecam.network import build_network

    bf16_native(False)
    monkeypatch.setattr(bench, "uses_gpu", lambda: False)
    peak = bench.measure_peak  # a small matmul: the figure's presence is tested here, not its size
    monkeypatch.setattr(bench, "measure_peak", lambda p, max_n=None: peak(p, target_s=0.0, max_n=256, repeats=1))
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--size",
            "32x24",
            "--batch",
            "1,2",
            "--style",
            "untrained-4x1",
            "--precision",
            "float32,bfloat16",
            "--repeats",
            "3",
            "--frames",
            "3",
            "--json",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert json.loads(result.stdout) == report

    m = report["machine"]
    assert m["cpu_model"] and m["backend"] == "tensorflow" and m["versions"]["keras"]
    assert set(bench.FLAGS_SHOWN) <= set(m["cpu_flags"]) and m["threads"]["usable_cpus"] >= 1
    assert m["gpus"] == [] or all("name" in g for g in m["gpus"])
    assert "convolutions" in report["flops_counted"] and "40 dB" in report["quality_criterion"]
    assert report["peak"]["float32"]["gflops"] > 0

    rows = report["results"]
    assert [(r["precision"], r["batch"]) for r in rows] == [
        ("float32", 1),
        ("float32", 2),
        ("bfloat16", 1),
        ("bfloat16", 2),
    ]
    flop = count_flops(build_network(width=4, residual_blocks=1), 24, 32).gflop
    for r in rows[:2]:
        n = r["network"]
        assert r["status"] == "ok" and r["size"] == [32, 24] and r["arch"]["width"] == 4
        assert r["compile_s"] > 0 and r["warmup_s"] >= 0 and n["runs"] == 3 == len(n["run_seconds"])
        assert 0 < n["fps_min"] <= n["fps_median"] <= n["fps_max"]
        assert n["ms_per_frame_median"] == pytest.approx(1000 / n["fps_median"])
        assert r["gflop_per_frame"] == pytest.approx(flop)
        assert r["gflops"] == pytest.approx(flop * n["fps_median"])
        assert r["fraction_of_peak"] == pytest.approx(r["gflops"] / report["peak"]["float32"]["gflops"])
        p = r["pipeline"]
        assert p["frames"] == 4 and p["fps"] > 0 and p["ratio_to_network"] > 0  # 3 frames -> 4, a multiple of 2
        assert set(p["busy_s"]) == {"decode", "network", "encode"}
    for r in rows[2:]:
        assert r["status"] == "skipped" and "avx512_bf16" in r["reason"]
    assert report["recommended"] == {"untrained-4x1": "float32"}

    table = bench_report.format_table(report)
    assert "32x24" in table and "skipped: this CPU has no avx512_bf16" in table and "peak:" in table
    # a run whose every row was skipped (bfloat16 alone on a CPU without it) still prints its table
    only_skipped = bench_report.format_table({**report, "results": rows[2:]})
    row = next(x for x in only_skipped.splitlines() if x.startswith("untrained-4x1"))
    assert row.split()[:4] == ["untrained-4x1", "all", "all", "bfloat16"]
    assert "skipped: this CPU has no avx512_bf16" in row


# ---------------------------------------------------------------- JAX

JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from stylecam import bench, bench_report, tuning
    bench.fast_jax_init()
    import keras
    assert keras.backend.backend() == "jax"
    from stylecam.network import build_network
    from stylecam.stylizer import Stylizer
    data = np.load(sys.argv[1])
    net = build_network(width=4, residual_blocks=1)
    net.set_weights([data[f"w{i}"] for i in range(len(net.weights))])
    np.save(sys.argv[2], Stylizer(net).stylize_batch(data["frames"]))
    cfg = bench.BenchConfig.from_options("32x24", "2", "float32", ["untrained-4x1"], repeats=2,
                                         pipeline_frames=2, peak_max_n=256, progress=False)
    report = bench.run_bench(cfg)
    print(json.dumps({"backend": report["machine"]["backend"], "row": report["results"][0]}, default=str))
""")


@pytest.mark.slow
@needs_jax
def test_network_and_bench_run_under_jax(tiny_net, tiny_stylizer, tmp_path):
    frames = np.stack([tuning.test_frame(24, 32, seed) for seed in (1, 2)])
    np.savez(tmp_path / "in.npz", frames=frames, **{f"w{i}": w for i, w in enumerate(tiny_net.get_weights())})
    result = run_under_jax(JAX_SCRIPT, tmp_path / "in.npz", tmp_path / "out.npy")
    jax_out = np.load(tmp_path / "out.npy")
    tf_out = tiny_stylizer.stylize_batch(frames)
    assert jax_out.shape == frames.shape and jax_out.dtype == np.uint8
    assert np.abs(jax_out.astype(int) - tf_out.astype(int)).max() <= 1  # rounding only
    assert result["backend"] == "jax"
    row = result["row"]
    assert row["status"] == "ok" and row["network"]["fps_median"] > 0 and row["pipeline"]["fps"] > 0


def test_auto_precision_keeps_float32_without_native_support(tiny_net, bf16_native, monkeypatch):
    bf16_native(False)
    monkeypatch.setattr(tuning, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    monkeypatch.setattr(tuning, "uses_gpu", lambda: False)
    assert tuning.auto_precision(tiny_net) == "float32"


@pytest.fixture()
def native_bf16_only(tiny_net, bf16_native, monkeypatch, tmp_path):
    """A CPU with native bfloat16 (no float16), an empty cache, and timings set by the test."""
    bf16_native(True)
    monkeypatch.setenv("STYLECAM_CACHE", str(tmp_path))
    monkeypatch.setattr(tuning, "uses_gpu", lambda: False)
    monkeypatch.setattr(tuning, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(tuning, "quality_psnr", lambda ref, reduced, frame=None: 55.0)
    seconds = {"float32": 1.0, "bfloat16": 0.5}
    measured = []
    monkeypatch.setattr(
        tuning, "measure_precisions", lambda nets: measured.append(set(nets)) or {p: seconds[p] for p in nets}
    )
    return seconds, measured


def test_auto_precision_takes_native_bfloat16_only_within_the_psnr_criterion(tiny_net, native_bf16_only, monkeypatch):
    seconds, measured = native_bf16_only
    assert tuning.auto_precision(tiny_net) == "bfloat16"
    assert measured == [{"float32", "bfloat16"}]
    monkeypatch.setattr(tuning, "quality_psnr", lambda ref, reduced, frame=None: 30.0)
    assert tuning.auto_precision(tiny_net) == "bfloat16"  # remembered for these weights
    from stylecam.network import build_network

    other = build_network(width=4, residual_blocks=1)  # other weights: checked again
    other.set_weights([w + 0.01 for w in tiny_net.get_weights()])
    assert tuning.auto_precision(other) == "float32" and len(measured) == 1


def test_auto_precision_keeps_float32_where_native_bfloat16_is_slower(
    tiny_net, native_bf16_only, tmp_path, monkeypatch
):
    # Seen on an AMX Xeon: the fast networks ran 30-40% slower in bfloat16 than in float32.
    seconds, measured = native_bf16_only
    seconds["bfloat16"] = 1.3
    assert tuning.auto_precision(tiny_net) == "float32"
    assert tuning.auto_precision(tiny_net) == "float32" and len(measured) == 1  # remembered
    monkeypatch.setenv("STYLECAM_CACHE", str(tmp_path / "other"))
    seconds["bfloat16"] = 0.97  # within the 5% margin: not worth the precision
    assert tuning.auto_precision(tiny_net) == "float32"


def test_auto_precision_checks_the_real_output_against_float32(tiny_net, native_bf16_only, monkeypatch):
    seconds, measured = native_bf16_only
    monkeypatch.setattr(tuning, "quality_psnr", QUALITY_PSNR)  # the real check, not a set figure
    assert tuning.auto_precision(tiny_net, min_psnr=200) == "float32" and measured == []
    assert tuning.auto_precision(tiny_net, min_psnr=20) == "bfloat16"


def test_auto_precision_keeps_float32_when_a_reduced_precision_cannot_run(tiny_net, native_bf16_only, monkeypatch):
    seconds, measured = native_bf16_only

    def broken(net, p):
        raise RuntimeError("no kernel for this type")

    monkeypatch.setattr(tuning, "inference_net", broken)
    assert tuning.auto_precision(tiny_net) == "float32" and measured == []


def test_load_stylizer_runs_the_chosen_precision(tiny_model):
    from stylecam.stylize import load_stylizer

    stylizer = load_stylizer(str(tiny_model), precision="bfloat16")
    assert stylizer.net.conv1.conv.compute_dtype == "bfloat16"
    assert load_stylizer(str(tiny_model), precision="float32").net.conv1.conv.compute_dtype == "float32"


def test_profile_times_every_block_and_accounts_for_every_flop():
    from stylecam.bench_report import format_profile
    from stylecam.flops import count_flops
    from stylecam.network import build_network
    from stylecam.profile import profile_blocks

    net = build_network("fast", width=4, residual_blocks=1)
    rows = profile_blocks(net, 40, 24, repeats=1)
    assert [r["block"] for r in rows] == [layer.name for layer, _ in net.stages()]
    assert all(r["ms"] > 0 for r in rows) and sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert sum(r["gflop"] for r in rows) * 1e9 == pytest.approx(count_flops(net, 24, 40).total)
    assert rows[-1]["out_shape"] == [24, 40, 3]
    assert len(format_profile("tiny", 40, 24, rows)) == len(rows) + 3
