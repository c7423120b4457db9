"""Filesystem moves that readers can never observe half-done (temp sibling, then rename)."""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

from hpcflow.errors import StorageError


def sibling(dest: Path, tag: str) -> Path:
    """A unique hidden name next to ``dest`` (same directory, so renaming it is atomic)."""
    return dest.with_name(f".{dest.name}{tag}{uuid.uuid4().hex[:12]}")


def remove(path: Path) -> None:
    """Delete a file, symlink or directory tree if present."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def install(tmp: Path, dest: Path) -> None:
    """Rename a fully written ``tmp`` onto ``dest``, replacing what was there.

    ``os.replace`` is atomic for a file over a file. A directory cannot replace a
    non-empty directory in one call, so the old one is first renamed aside; readers then
    briefly see no artifact, which is safe, never a mix of old and new.
    """
    if not tmp.is_dir() and not (dest.is_dir() and not dest.is_symlink()):
        os.replace(tmp, dest)
        return
    for _ in range(5):
        trash = None
        if dest.exists() or dest.is_symlink():
            trash = sibling(dest, ".hpcflow-trash-")
            os.rename(dest, trash)
        try:
            os.rename(tmp, dest)
        except OSError as exc:  # another writer installed in between: go round again
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                raise
            continue
        finally:
            if trash is not None:
                remove(trash)
        return
    raise StorageError(f"could not install {dest}: it kept changing under concurrent writers")
