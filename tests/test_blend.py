"""Blending styles (--style A:0.7+B:0.3) and live's cross-fade between styles."""

from __future__ import annotations

import numpy as np
import pytest

from stylecam.errors import UserError
from stylecam.styles import display_name, parse_blend
from stylecam.stylize import StyleProcessor


def test_blend_specs_parse_and_normalise(tmp_path):
    assert parse_blend("starry-night") == [("starry-night", 1.0)]
    assert parse_blend("a:3+b:1") == [("a", 0.75), ("b", 0.25)]
    assert parse_blend("a+b") == [("a", 0.5), ("b", 0.5)]
    assert parse_blend("runs/x.keras:0.2+b") == [("runs/x.keras", pytest.approx(0.2 / 1.2)), ("b", 1 / 1.2)]
    odd = tmp_path / "a+b.keras"
    odd.write_bytes(b"")
    assert parse_blend(str(odd)) == [(str(odd), 1.0)]  # an existing file is one style, whatever its name
    assert display_name("runs/x.keras:1+b:1") == "x:0.5+b:0.5" and display_name("dir/y.keras") == "y"
    for bad in ("a:x+b", "a:-1+b", "a:0+b:0", "+b"):
        with pytest.raises(UserError):
            parse_blend(bad)


class Constant:
    """A fake network that paints every pixel ``value``."""

    def __init__(self, value):
        self.value = value

    def stylize_batch(self, frames):
        return np.full_like(frames, self.value)


def test_switching_style_cross_fades_then_settles(monkeypatch):
    import stylecam.stylize as stylize

    now = [100.0]
    monkeypatch.setattr(stylize.time, "perf_counter", lambda: now[0])
    frames = np.zeros((1, 8, 8, 3), np.uint8)
    p = StyleProcessor(Constant(0))
    p.switch(Constant(200), seconds=0.5)
    seen = []
    for t in (0.0, 0.125, 0.25, 0.5, 0.6):
        now[0] = 100.0 + t
        seen.append(int(p(frames)[0, 0, 0, 0]))
    assert seen == [0, 50, 100, 200, 200]  # a linear fade over half a second, then the new style alone
    p.switch(Constant(10))  # no fade asked: a cut
    assert int(p(frames)[0, 0, 0, 0]) == 10
