import json

import numpy as np
import pytest

from stylecam import tuning
from stylecam.network import build_network
from stylecam.stylizer import Stylizer


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLECAM_CACHE", str(tmp_path))
    return tmp_path / "engines.json"


def test_xla_and_graph_engines_give_the_same_frames():
    net = build_network(width=4, residual_blocks=1)
    frame = np.random.default_rng(0).integers(0, 256, (2, 30, 41, 3), dtype=np.uint8)
    graph, xla = Stylizer(net, "graph").stylize_batch(frame), Stylizer(net, "xla").stylize_batch(frame)
    assert graph.shape == xla.shape == frame.shape
    assert np.abs(graph.astype(int) - xla).max() <= 1  # float rounding of fused kernels


@pytest.mark.slow
def test_auto_measures_once_and_remembers(cache, monkeypatch):
    net = build_network(width=4, residual_blocks=1)
    first = tuning.tuned_stylizer(net).engine
    assert first in tuning.ENGINES
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert entry["engine"] == first and set(entry["seconds"]) == set(tuning.ENGINES)

    def no_measuring(*a, **k):
        raise AssertionError("measured again")

    monkeypatch.setattr(tuning, "interleaved_best_seconds", no_measuring)
    assert tuning.tuned_stylizer(net).engine == first
    # Another design is another entry.
    with pytest.raises(AssertionError, match="measured again"):
        tuning.tuned_stylizer(build_network(width=4, residual_blocks=2))


def test_the_faster_engine_wins_by_a_margin(cache, monkeypatch):
    net = build_network(width=4, residual_blocks=1)
    times = {"graph": 1.0, "xla": 0.97}  # XLA 3% faster: not enough to pay for its compile
    monkeypatch.setattr(tuning, "interleaved_best_seconds", lambda runs, frame: {e: times[e] for e in runs})
    assert tuning.choose_engine(net) == "graph"
    cache.unlink()
    times["xla"] = 0.5
    assert tuning.choose_engine(net) == "xla"


def test_engines_are_timed_in_alternation():
    # A burst of load on a shared machine must slow both engines, not the one being timed.
    calls = []

    def run_of(engine):
        return lambda frame: calls.append(engine) or frame

    runs = {e: run_of(e) for e in tuning.ENGINES}
    seconds = tuning.interleaved_best_seconds(runs, np.zeros((1, 4, 4, 3), "float32"), rounds=3)
    assert set(seconds) == set(tuning.ENGINES) and all(s >= 0 for s in seconds.values())
    assert calls == list(tuning.ENGINES) * 4  # one compile call each, then alternating rounds


def test_measurements_are_announced_once_and_nested_ones_are_kept(cache, capsys):
    # Timing precisions times each precision's engines first: the outer entry must not
    # overwrite the inner ones it caused (they were measured again on every run).
    def inner():
        return tuning.remembered("inner", lambda e: True, lambda: {"v": 1}, "the inner thing")

    def outer():
        return tuning.remembered("outer", lambda e: True, lambda: inner() and {"v": 2}, "the outer thing")

    assert outer() == {"v": 2}
    known = json.loads(cache.read_text())
    assert known["inner"] == {"v": 1} and known["outer"] == {"v": 2}
    assert "timing the outer thing" in capsys.readouterr().err
    assert outer() == {"v": 2} and capsys.readouterr().err == ""
