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
