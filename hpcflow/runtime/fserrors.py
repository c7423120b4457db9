"""Filesystem errors in words a user can act on: a full filesystem is named by its mount point.

"[Errno 28] No space left on device" from deep inside an OP does not say which of a
cluster's filesystems (home, scratch, project, node-local /tmp) is full. Used by the runtime
(an OP or a record write that hit a full disk) and by the engine (an attempt directory it
could not prepare).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpcflow.runtime.records import StrPath

FULL = (errno.ENOSPC, errno.EDQUOT)


def mount_point(path: StrPath) -> Path:
    """The mount point of the filesystem holding ``path`` (or its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        device = path.stat().st_dev
        while path != path.parent and path.parent.stat().st_dev == device:
            path = path.parent
    except OSError:
        pass
    return path


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def full_filesystem(exc: BaseException | None) -> OSError | None:
    """The ENOSPC/EDQUOT error in ``exc`` or the exceptions it was raised from, if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in FULL:
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def explain_full(exc: OSError, path: StrPath) -> str:
    """One line naming the full filesystem that ``path`` is on, with its free and total space."""
    target = Path(exc.filename) if isinstance(exc.filename, str) else Path(path)
    mount = mount_point(target)
    try:
        st = os.statvfs(mount)
        space = f"{_size(st.f_bavail * st.f_frsize)} free of {_size(st.f_blocks * st.f_frsize)}"
    except OSError:
        space = "free space unknown"
    what = "your quota is used up on" if exc.errno == errno.EDQUOT else "full:"
    where = f"in {target}" if target.is_dir() else str(target)
    return (f"{os.strerror(exc.errno or errno.ENOSPC)} ({what} the filesystem at {mount}, "
            f"{space}) while writing {where}; free space there, then `hpcflow retry`")


def describe(exc: BaseException, path: StrPath) -> str:
    """``Type: message`` for an error, with the full filesystem named when that is the cause."""
    text = str(exc)
    base = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    full = full_filesystem(exc)
    if full is None:
        return base
    if full is exc:
        return f"{type(exc).__name__}: {explain_full(full, path)}"
    return f"{base}: {explain_full(full, path)}"
