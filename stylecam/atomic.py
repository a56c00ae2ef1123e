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


class PartialFile:
    """A hidden temporary file beside ``target`` (same suffix) that becomes ``target`` on
    ``commit()``; ``discard()`` removes it."""

    def __init__(self, target):
        self.target = Path(target)
        fd, tmp = tempfile.mkstemp(
            dir=self.target.parent, prefix=f".{self.target.stem}.partial-", suffix=self.target.suffix
        )
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets normal rights
        os.replace(self.tmp, self.target)
        return self.target

    def discard(self) -> None:
        if self.tmp.exists():
            self.tmp.unlink()


@contextlib.contextmanager
def atomic_output(target):
    """Yield a temporary path beside ``target``; rename it to ``target`` when the block succeeds,
    delete it when the block fails or is interrupted."""
    partial = PartialFile(target)
    try:
        yield partial.tmp
        partial.commit()
    except KeyboardInterrupt:
        print(f"stylecam: interrupted: {partial.target} not written (partial output removed)", file=sys.stderr)
        raise
    except UserError as e:
        raise UserError(f"{e} ({partial.target} not written)") from e
    finally:
        partial.discard()
