"""Where stylecam keeps what it works out once per machine (converted VGG weights, engine choices)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$STYLECAM_CACHE``, else ``$XDG_CACHE_HOME/stylecam``, else ``~/.cache/stylecam``."""
    root = os.environ.get("STYLECAM_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stylecam"
    return Path(root)
