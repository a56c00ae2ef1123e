import json

import numpy as np
import pytest

from stylecam import engine
from stylecam.network import build_transform_net
from stylecam.stylizer import Stylizer


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECAM_CACHE", str(tmp_path))
    return tmp_path / "engines.json"


def test_xla_and_graph_engines_give_the_same_frames():
    net = build_transform_net(width=4, residual_blocks=1)
    frame = np.random.default_rng(0).integers(0, 256, (2, 30, 41, 3), dtype=np.uint8)
    graph, xla = Stylizer(net, "graph").stylize_batch(frame), Stylizer(net, "xla").stylize_batch(frame)
    assert graph.shape == xla.shape == frame.shape
    assert np.abs(graph.astype(int) - xla).max() <= 1   # float rounding of fused kernels


def test_auto_measures_once_and_remembers(cache, monkeypatch):
    net = build_transform_net(width=4, residual_blocks=1)
    first = Stylizer(net, "auto").engine
    assert first in engine.ENGINES
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert entry["engine"] == first and set(entry["seconds"]) == set(engine.ENGINES)

    def no_measuring(*a, **k):
        raise AssertionError("measured again")
    monkeypatch.setattr(engine, "interleaved_best_seconds", no_measuring)
    assert Stylizer(net, "auto").engine == first
    # Another design is another entry.
    with pytest.raises(AssertionError, match="measured again"):
        Stylizer(build_transform_net(width=4, residual_blocks=2), "auto")


def test_the_faster_engine_wins_by_a_margin(cache, monkeypatch):
    net = build_transform_net(width=4, residual_blocks=1)
    times = {"graph": 1.0, "xla": 0.97}   # XLA 3% faster: not enough to pay for its compile
    monkeypatch.setattr(engine, "interleaved_best_seconds", lambda runs, frame: {e: times[e] for e in runs})
    assert engine.choose_engine(net, None) == "graph"
    cache.unlink()
    times["xla"] = 0.5
    assert engine.choose_engine(net, None) == "xla"


def test_engines_are_timed_in_alternation():
    # A burst of load on a shared machine must slow both engines, not the one being timed.
    calls = []
    runs = {e: (lambda e: lambda frame: calls.append(e) or frame)(e) for e in engine.ENGINES}
    seconds = engine.interleaved_best_seconds(runs, np.zeros((1, 4, 4, 3), "float32"), rounds=3)
    assert set(seconds) == set(engine.ENGINES) and all(s >= 0 for s in seconds.values())
    assert calls == list(engine.ENGINES) * 4   # one compile call each, then alternating rounds


def test_measurements_are_announced_once_and_nested_ones_are_kept(cache, capsys):
    # Timing precisions times each precision's engines first: the outer entry must not
    # overwrite the inner ones it caused (they were measured again on every run).
    def inner():
        return engine.remembered("inner", lambda e: True, lambda: {"v": 1}, "the inner thing")

    outer = lambda: engine.remembered("outer", lambda e: True, lambda: inner() and {"v": 2}, "the outer thing")
    assert outer() == {"v": 2}
    known = json.loads(cache.read_text())
    assert known["inner"] == {"v": 1} and known["outer"] == {"v": 2}
    assert "timing the outer thing" in capsys.readouterr().err
    assert outer() == {"v": 2} and capsys.readouterr().err == ""
