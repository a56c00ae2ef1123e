"""Bundled styles, shipped in stylecam/models/ and addressed by name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_STYLE = "starry-night"


@dataclass(frozen=True)
class StyleInfo:
    name: str
    path: Path
    quality: str  # "full" or "fast"


def bundled_styles() -> list[StyleInfo]:
    """Full models are NAME.keras; light ones NAME.fast.keras."""
    out = []
    for p in sorted(MODELS_DIR.glob("*.keras")):
        name, _, rest = p.name.partition(".")
        out.append(StyleInfo(name, p, "fast" if rest == "fast.keras" else "full"))
    return out


def resolve_style(style: str | None, quality: str = "full") -> Path:
    """A bundled style's name (``NAME.fast`` for its fast network) or a path to a model file
    -> the model file's path."""
    style = style or DEFAULT_STYLE
    candidate = Path(style)
    if candidate.suffix == ".keras" or candidate.exists() or "/" in style:
        if not candidate.is_file():
            raise UserError(f"model file not found: {style}")
        return candidate
    if style.endswith(".fast"):  # "starry-night.fast": that style's fast network
        style, quality = style[: -len(".fast")], "fast"
    matches = [s for s in bundled_styles() if s.name == style]
    if not matches:
        names = ", ".join(sorted({s.name for s in bundled_styles()})) or "none"
        raise UserError(f"unknown style '{style}' (bundled: {names}; or give a path to a .keras model)")
    for s in matches:
        if s.quality == quality:
            return s.path
    return matches[0].path


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """``"starry-night:0.7+great-wave:0.3"`` -> ``[("starry-night", 0.7), ("great-wave", 0.3)]``,
    weights normalised to sum to 1 (equal where none are given); one style -> ``[(style, 1.0)]``."""
    if Path(spec).is_file() or "+" not in spec:
        return [(spec, 1.0)]
    parts = []
    for part in spec.split("+"):
        name, sep, weight = part.rpartition(":")
        if not sep:
            name, weight = part, "1"
        try:
            value = float(weight)
        except ValueError:
            raise UserError(f"--style {spec}: {weight!r} is not a weight (write NAME:0.7+NAME:0.3)") from None
        if not name or value < 0:
            raise UserError(f"--style {spec}: each part is NAME or NAME:WEIGHT with WEIGHT >= 0")
        parts.append((name, value))
    total = sum(w for _, w in parts)
    if total <= 0:
        raise UserError(f"--style {spec}: the weights add up to 0")
    return [(name, w / total) for name, w in parts]


def display_name(style: str) -> str:
    """A style as a person reads it: a bundled name, a file's stem, or a blend of those."""
    parts = parse_blend(style)
    if len(parts) == 1:
        return Path(style).name.removesuffix(".keras")
    return "+".join(f"{Path(n).name.removesuffix('.keras')}:{w:.2g}" for n, w in parts)
