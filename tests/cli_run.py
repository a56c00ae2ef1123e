"""``stylecam ARGS`` in a subprocess, as a user runs it, for the tests."""

from __future__ import annotations

import os
import subprocess
import sys

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def stylecam(*args, timeout=180, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "stylecam.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=QUIET if env is None else env,
        cwd=cwd,
    )
