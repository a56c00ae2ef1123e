"""`stylecam bench`'s report: the table a person reads (and the JSON a script reads)."""

from __future__ import annotations

import json

FLAGS_SHOWN = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_fp16",
    "amx_int8",
)


def format_table(report: dict) -> str:
    m = report["machine"]
    flags = [f for f, on in m["cpu_flags"].items() if on] or ["none of " + ", ".join(FLAGS_SHOWN[:4])]
    th = m["threads"]
    gpus = "; ".join(f"{g.get('name')} {g.get('memory_gib') or '?'} GiB" for g in m["gpus"]) or "no GPU"
    v = m["versions"]
    lines = [
        f"machine: {m['cpu_model']} ({th['usable_cpus']} CPUs usable"
        + (f", {th['intra_op']} intra-op threads" if "intra_op" in th else "")
        + f"; {' '.join(flags)})",
        f"         {gpus}; backend {m['backend']}"
        + (" on GPU" if m["uses_gpu"] else " on CPU")
        + f"; keras {v['keras']}"
        + (f", tensorflow {v['tensorflow']}" if v.get("tensorflow") else "")
        + (f", jax {v['jax']}" if v.get("jax") else ""),
    ]
    for p, pk in report["peak"].items():
        if pk.get("gflops"):
            lines.append(f"peak:    {p} matmul {pk['gflops']:.0f} GFLOP/s (n={pk['n']})")
        else:
            lines.append(f"peak:    {p} matmul failed: {pk.get('error')}")
    lines.append(f"FLOPs:   {report['flops_counted']}")
    lines.append(f"quality: {report['quality_criterion']}")
    lines.append("")
    head = [
        "style",
        "size",
        "batch",
        "precision",
        "engine",
        "compile s",
        "net FPS",
        "(min-max)",
        "ms/frame",
        "pipeline FPS",
        "GFLOP/frame",
        "GFLOP/s",
        "% peak",
        "PSNR dB",
    ]
    rows, notes = [], []
    for r in report["results"]:
        base = [r["style"], f"{r['size'][0]}x{r['size'][1]}", str(r["batch"]), r["precision"], r.get("engine", "-")]
        if r["status"] != "ok":
            skipped = [x for x in report["results"] if (x["style"], x["precision"]) == (r["style"], r["precision"])]
            if all(x["status"] != "ok" and x["reason"] == r["reason"] for x in skipped):
                if r is skipped[0]:  # one line for a precision skipped at every size and batch
                    rows.append([r["style"], "all", "all", r["precision"], "-", f"skipped: {r['reason']}"])
                continue
            rows.append(base + [f"skipped: {r['reason']}"])
            continue
        n = r["network"]
        pipe = r.get("pipeline")
        if pipe is None:
            pipe_s = "-"
        elif "error" in pipe:
            pipe_s = "error"
            notes.append(f"{' '.join(base)}: pipeline failed: {pipe['error']}")
        else:
            pipe_s = f"{pipe['fps']:.2f} ({pipe['ratio_to_network']:.0%})"
        frac = r.get("fraction_of_peak")
        q = r.get("psnr_vs_float32_db", "-") if "psnr_vs_float32_db" in r else "-"
        rows.append(
            base
            + [
                f"{r['compile_s']:.1f}",
                f"{n['fps_median']:.2f}",
                f"({n['fps_min']:.2f}-{n['fps_max']:.2f})",
                f"{n['ms_per_frame_median']:.0f}",
                pipe_s,
                f"{r['gflop_per_frame']:.3g}",
                f"{r['gflops']:.3g}",
                f"{frac:.0%}" if frac is not None else "-",
                "inf" if q is None else (f"{q:.1f}" if isinstance(q, float) else q),
            ]
        )
        if r.get("note"):
            notes.append(f"{' '.join(base)}: {r['note']}")
    widths = [max([len(head[i]), *(len(x[i]) for x in rows if len(x) == len(head))]) for i in range(len(head))]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    lines.append(fmt(head))
    for x in rows:
        lines.append(fmt(x) if len(x) == len(head) else fmt(x[:-1]) + "  " + x[-1])
    lines.extend(["", *notes] if notes else [])
    for style, p in report.get("recommended", {}).items():
        lines.append(f"precision to use for {style} here: {p} (fastest measured natively within the quality criterion)")
    if report["config"]["pipeline"]:
        lines.append(
            f"({report['total_s']:.0f} s; pipeline = decode, stylize, encode of a "
            f"{report['config']['pipeline_frames']}+ frame H.264 clip as `stylecam convert` does it; "
            "% in brackets: of the network-alone FPS)"
        )
    else:
        lines.append(f"({report['total_s']:.0f} s; network alone)")
    return "\n".join(lines)


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, default=str)


def format_profile(label: str, width: int, height: int, rows: list[dict]) -> list[str]:
    b = max([12, *(len(r["block"]) + 2 for r in rows)])
    lines = [
        f"profile of {label} at {width}x{height} (each block alone, best of runs):",
        f"  {'block':<{b}}{'kind':<16}{'output':<16}{'ms':>9}{'share':>8}{'GFLOP':>9}{'GFLOP/s':>9}",
    ]
    for r in rows:
        shape = "x".join(str(d) for d in r["out_shape"])
        lines.append(
            f"  {r['block']:<{b}}{r['kind']:<16}{shape:<16}{r['ms']:9.1f}{r['share']:8.0%}"
            f"{r['gflop']:9.2f}{r['gflops']:9.1f}"
        )
    lines.append(f"  {'sum':<{b + 32}}{sum(r['ms'] for r in rows):9.1f}")
    return lines
