"""Where a network's time goes: each top-level block timed alone at one frame size.

`stylecam bench --profile` prints it. Every block runs compiled (the same engine the runtime
uses), on the tensor the previous block produced, best of ``repeats`` runs; its FLOPs come from
stylecam.flops, so GFLOP/s per block shows which layers run near the machine's matmul peak and
which are bound by memory traffic (normalisation, padding, resampling).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from .flops import count_flops
from .stylizer import best_seconds, compile_fn


def profile_blocks(net, width: int, height: int, repeats: int = 3, engine: str = "graph") -> list[dict]:
    """One row per block of ``net`` (a FullNet or FastNet) for a ``width`` x ``height`` frame."""
    counted = count_flops(net, height, width)
    flops: dict[str, int] = {}
    for c in counted.convs:
        top = c.name.split(".")[0]
        flops[top] = flops.get(top, 0) + c.flops
    h, w = net.padded_side(height), net.padded_side(width)
    x = ops.convert_to_tensor(np.random.default_rng(0).uniform(-1, 1, (1, h, w, 3)).astype("float32"))
    frame, rows = x, []
    for block, stage in net.stages():
        run = compile_fn(lambda y, stage=stage: stage(y, frame), engine)
        y = run(x)
        ops.convert_to_numpy(y)
        best = best_seconds(lambda run=run, x=x: ops.convert_to_numpy(run(x)), repeats)
        f = flops.get(block.name, 0)
        rows.append(
            {
                "block": block.name,
                "kind": type(block).__name__,
                "out_shape": list(y.shape[1:]),
                "ms": best * 1000,
                "gflop": f / 1e9,
                "gflops": f / best / 1e9 if f else 0.0,
            }
        )
        x = y
    total = sum(r["ms"] for r in rows)
    for r in rows:
        r["share"] = r["ms"] / total if total else 0.0
    return rows
