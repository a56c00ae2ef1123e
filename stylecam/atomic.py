"""Nothing is lost: outputs are written beside their target and renamed when complete.

A partial file is locked while its run lives, so a later run can tell the partial of a killed run
(unlocked: removed) from one still being written (locked: left alone). The finishing rename never
replaces a file that appeared meanwhile unless the caller allows it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
from pathlib import Path

from .errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _partial_prefix(target: Path) -> str:
    return f".{target.stem}.partial-"


def remove_stale_partials(target) -> list[Path]:
    """Remove the partial files of ``target`` left by runs that were killed; returns them."""
    target = Path(target)
    removed = []
    for p in target.parent.glob(f"{_partial_prefix(target)}*{target.suffix}"):
        try:
            with open(p, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live run: skip it
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


def check_writable(folder) -> None:
    """A UserError now, before any work, if no file can be created in ``folder``."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(os_error_line(e, folder)) from None


def os_error_line(e: OSError, path) -> str:
    """One line for an OS error while writing ``path``."""
    if e.errno == errno.ENOSPC:
        return f"the disk is full: {path} not written (free some space and run again)"
    if e.errno == errno.EROFS:
        return f"cannot write {path}: it is on a read-only file system (choose another output folder)"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"cannot write {path}: permission denied (choose another output folder)"
    return f"cannot write {path}: {e.strerror or e}"


class PartialFile:
    """A hidden temporary file beside ``target`` (same suffix) that becomes ``target`` on
    ``commit()``; ``discard()`` removes it. Creating one checks that the folder is writable."""

    def __init__(self, target, overwrite: bool = False):
        self.target, self.overwrite = Path(target), overwrite
        if self.target.is_dir():
            raise UserError(f"{self.target} is a folder; give a file name for the output")
        for stale in remove_stale_partials(self.target):
            print(f"stylecam: removed {stale}, left by an earlier run that was killed", file=sys.stderr)
        try:
            fd, tmp = tempfile.mkstemp(
                dir=self.target.parent, prefix=_partial_prefix(self.target), suffix=self.target.suffix
            )
        except OSError as e:
            raise UserError(os_error_line(e, self.target)) from None
        self._lock = os.fdopen(fd, "rb")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # released when this process ends, however it ends
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        """Rename into place; without ``overwrite`` a file that appeared meanwhile is kept and
        this result is kept under a free name, with a UserError that says where."""
        os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets normal rights
        if self.overwrite:
            os.replace(self.tmp, self.target)
            return self.target
        if _link_new(self.tmp, self.target):
            return self.target
        for i in range(2, 1000):
            other = self.target.with_name(f"{self.target.stem}-{i}{self.target.suffix}")
            if _link_new(self.tmp, other):
                raise UserError(
                    f"{self.target} appeared while this run was writing it (another run?) and was "
                    f"left as it is; this run's result is {other}"
                )
        raise UserError(f"{self.target} appeared while this run was writing it; result not kept")

    def discard(self) -> None:
        if self.tmp.exists():
            self.tmp.unlink()
        self._lock.close()


def _link_new(src: Path, dst: Path) -> bool:
    """Move ``src`` to the new name ``dst`` unless ``dst`` exists (atomically where links work)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: check, then rename
        if dst.exists():
            return False
        os.rename(src, dst)
        return True
    src.unlink()
    return True


@contextlib.contextmanager
def atomic_output(target, overwrite: bool = True):
    """Yield a temporary path beside ``target``; rename it to ``target`` when the block succeeds,
    delete it when the block fails or is interrupted. ``overwrite=False``: never replace a file
    that appeared meanwhile."""
    partial = PartialFile(target, overwrite)
    try:
        yield partial.tmp
        partial.commit()
    except KeyboardInterrupt:
        print(f"stylecam: interrupted: {partial.target} not written (partial output removed)", file=sys.stderr)
        raise
    except UserError as e:
        if str(partial.target) in str(e):
            raise
        message = str(e).replace(str(partial.tmp), str(partial.target))  # the user's name, not ours
        raise UserError(f"{message} ({partial.target} not written)") from e
    except OSError as e:
        raise UserError(os_error_line(e, partial.target)) from None
    finally:
        partial.discard()
