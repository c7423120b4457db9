"""Content hashes recorded when an artifact is published and checked when it is read
(:mod:`hpcflow.runtime.integrity` on a shared filesystem, S3 manifests on object storage).

A file's hash is the sha256 of its bytes. A directory's hash covers its sorted relative
paths and the hash of each file, so renaming, adding or altering any file changes it while
timestamps and permissions do not. The same formula is used for S3 manifests, so a hash
recorded on one store can be verified against a copy fetched from another.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from hpcflow.errors import StorageError

_CHUNK = 1024 * 1024


def _file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of one file's bytes."""
    return _file_digest(Path(path), "sha256")


def file_md5(path: str | os.PathLike[str]) -> str:
    """md5 hex digest of one file (Dflow's ``get_md5`` contract, not used for integrity)."""
    return _file_digest(Path(path), "md5")


def iter_files(root: str | os.PathLike[str]) -> Iterator[tuple[str, Path]]:
    """(posix relative path, absolute path) of every file under ``root``, sorted.

    Symlinks to files are followed (their content is what a reader sees); symlinked
    directories are not descended, so a link cycle cannot hang a hash.
    """
    base = Path(root)
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(base):
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                dirnames.remove(name)
        for name in filenames:
            full = Path(dirpath, name)
            found.append((full.relative_to(base).as_posix(), full))
    found.sort(key=lambda item: item[0])
    return iter(found)


def tree_hash(entries: Iterable[tuple[str, str]]) -> str:
    """Hash of a directory given (relative path, file hash) pairs in any order."""
    h = hashlib.sha256()
    for rel, digest in sorted(entries):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


def tree_md5(entries: Iterable[tuple[str, str]]) -> str:
    """md5 of a directory given (relative path, file md5) pairs; used by ``get_md5``."""
    h = hashlib.md5()
    for rel, digest in sorted(entries):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


def local_md5(path: str | os.PathLike[str]) -> str:
    """What ``get_md5`` returns for this local file or directory on any store."""
    p = Path(path)
    if p.is_file():
        return file_md5(p)
    return tree_md5((rel, file_md5(full)) for rel, full in iter_files(p))


def content_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, or the tree hash of a directory (see module docstring)."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    if p.is_dir():
        return tree_hash((rel, file_sha256(full)) for rel, full in iter_files(p))
    raise StorageError(f"cannot hash {p}: no such file or directory")


def stat_digest(path: str | os.PathLike[str]) -> str:
    """A cheap fingerprint of a file or directory: size, mtime, ctime and inode of each file.

    Any write to a file changes its mtime and ctime, and ctime cannot be set back by a
    user, so an unchanged fingerprint means unchanged content without reading a byte; a
    changed one only means the content *may* differ (a chmod, a hard link) and has to be
    hashed again.
    """
    p = Path(path)
    files = [("", p)] if not p.is_dir() else list(iter_files(p))
    h = hashlib.sha256()
    for rel, full in files:
        st = os.stat(full)
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n".encode())
    return h.hexdigest()
