"""Which compiler runs a network fastest on this machine: TensorFlow's graph executor or XLA.

Neither wins everywhere: on the development machine (2-core AVX2 EPYC) XLA ran the fast design
about 1.5x and the full one about 1.05x faster than the graph executor, while on an AVX-512
Zen 5 XLA was slower for the full network. So ``auto`` measures both once per machine, network
design, precision, backend version and network code, on a 320x180 test frame, and remembers the answer in
``$STYLECAM_CACHE/engines.json`` (stylecam.cache). Under JAX, jax.jit is XLA. ``remembered`` keeps
the same cache for stylecam.precision's choice.
"""
from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)

import keras  # noqa: E402

ENGINES = ("graph", "xla")
XLA_MARGIN = 0.95   # XLA must be at least 5% faster to be chosen (its compile is slower)


def compile_fn(fn, engine: str):
    """``fn`` compiled for the current backend; ``engine`` matters under TensorFlow only."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, reduce_retracing=True, jit_compile=engine == "xla")
    if backend == "jax":
        import jax
        return jax.jit(fn)
    return fn


def cache_path() -> Path:
    from .cache import cache_dir
    return cache_dir() / "engines.json"


def best_seconds(fn, repeats: int) -> float:
    """The fastest of ``repeats`` calls of ``fn`` (which must wait for its result), in seconds."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    # Once per process: gpu_info may run nvidia-smi, and live builds a stylizer per style.
    from .hardware import cpu_model, gpu_info
    from . import network
    # The network's code too: a layer rewritten (GridFilter went from a depthwise convolution to
    # slices, 25 -> 56 FPS) must be measured again, not run with the old code's choice.
    code = hashlib.sha256(Path(network.__file__).read_bytes()).hexdigest()[:16]
    return {"cpu": cpu_model(), "gpu": [g.get("name") for g in gpu_info()],
            "backend": keras.backend.backend(), "keras": keras.version(), "network_code": code}


def cache_key(net, choice: str = "engine") -> str:
    key = {**_machine(), "design": net.design, "dtype": net.dtype_policy.name}
    if choice != "engine":   # engine entries keep their old keys, so existing caches stay valid
        key["choice"] = choice
    return json.dumps(key, sort_keys=True)


def remembered(key: str, valid: Callable[[dict], bool], measure: Callable[[], dict], what: str) -> dict:
    """The cache entry for ``key`` if ``valid``; otherwise ``measure()``, stored for next time.
    ``what`` is measured: said on stderr, since a first run pauses for it (seconds)."""
    path = cache_path()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known and valid(known[key]):
        return known[key]
    print(f"timing {what} (once; remembered in {path})", file=sys.stderr)
    entry = measure()
    try:   # read again: the measurement may have remembered entries of its own
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known[key] = entry
    try:
        from .atomic import atomic_output
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(known, indent=1))
    except OSError:
        pass  # a read-only home: measure again next time
    return entry


def interleaved_best_seconds(runs: dict, frame, rounds=7) -> dict:
    """The fastest call of each compiled function, timed in alternation: on a shared machine a
    burst of load then slows every engine alike instead of deciding the race (timed one engine
    after the other, best of 3, a loaded machine once picked the graph executor for a network
    XLA ran 2x faster)."""
    for run in runs.values():
        keras.ops.convert_to_numpy(run(frame))   # compile
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], best_seconds(lambda: keras.ops.convert_to_numpy(run(frame)), 1))
    return best


def choose_engine(net, forward) -> str:
    """The faster engine for ``forward`` (frames -> frames, using ``net``), measured or cached."""
    if keras.backend.backend() != "tensorflow":
        return "xla"

    def measure():
        from .precision import test_frame
        frame = test_frame(180, 320)[None]
        seconds = interleaved_best_seconds({e: compile_fn(forward, e) for e in ENGINES}, frame)
        return {"engine": "xla" if seconds["xla"] < XLA_MARGIN * seconds["graph"] else "graph",
                "seconds": seconds}

    return remembered(cache_key(net), lambda e: e.get("engine") in ENGINES, measure,
                      f"graph executor vs XLA, {net.dtype_policy.name}")["engine"]
