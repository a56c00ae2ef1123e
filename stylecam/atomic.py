"""Nothing is lost: outputs are written beside their target and renamed when complete."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from .errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(target):
    """Yield a temporary path beside ``target`` (same suffix); rename it to ``target`` when
    the block succeeds, delete it when the block fails or is interrupted."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.partial-", suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets normal rights
        os.replace(tmp, target)
    except KeyboardInterrupt:
        print(f"stylecam: interrupted: {target} not written (partial output removed)", file=sys.stderr)
        raise
    except UserError as e:
        raise UserError(f"{e} ({target} not written)") from e
    finally:
        if tmp.exists():
            tmp.unlink()
