"""A StorageClient on a shared filesystem (NFS, Lustre, GPFS): the default store.

Keys map to ``root/key``. Every write lands in a temporary sibling first and is renamed
into place, so a job reading a key sees nothing or a whole artifact, never half of one.
Attempt outputs already on the same filesystem are moved (one rename, no copy) and
inputs are symlinked into attempt directories, so large artifacts are never duplicated.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from hpcflow.errors import StorageError
from hpcflow.storage.base import TMP_MARKER, check_key, is_internal_name
from hpcflow.storage.fsutil import install, remove, sibling
from hpcflow.storage.hashing import content_hash, iter_files, local_md5, verify

__all__ = ["SharedFSStorage", "content_hash", "verify"]


class SharedFSStorage:
    """Artifacts as plain files under ``root`` on a filesystem every node mounts."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).absolute()
        #: fsync files before renaming them in, so a node crash cannot publish empty files.
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"SharedFSStorage(root={str(self.root)!r})"

    # -- keys ---------------------------------------------------------------------------
    def path_of(self, key: str) -> Path:
        """Where ``key`` lives on disk (it may not exist yet)."""
        return self.root / check_key(key)

    def _existing(self, key: str) -> Path:
        path = self.path_of(key)
        if not path.exists():
            raise StorageError(f"no artifact at key {key!r} (looked for {path})")
        return path

    # -- copying ------------------------------------------------------------------------
    def _copy_file(self, src: str, dst: str) -> str:
        shutil.copy2(src, dst)
        if self.fsync:
            with open(dst, "rb") as fh:
                os.fsync(fh.fileno())
        return dst

    def _copy_to_tmp(self, src: Path, dest: Path) -> Path:
        """Copy ``src`` to a temporary sibling of ``dest``; removes it on any failure."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = sibling(dest, TMP_MARKER)
        try:
            if src.is_dir():
                shutil.copytree(src, tmp, symlinks=False, copy_function=self._copy_file)
            else:
                self._copy_file(str(src), str(tmp))
        except BaseException:
            remove(tmp)
            raise
        return tmp

    def _publish_copy(self, src: Path, dest: Path) -> None:
        try:
            tmp = self._copy_to_tmp(src, dest)
            try:
                install(tmp, dest)
            except BaseException:
                remove(tmp)
                raise
        except OSError as exc:
            raise StorageError(f"cannot copy {src} to {dest}: {exc}") from exc

    # -- StorageClient ------------------------------------------------------------------
    def upload(self, key: str, path: str | os.PathLike[str]) -> None:
        """Copy a local file or directory to ``key``, visible only once complete."""
        src = Path(path)
        if not src.exists():
            raise StorageError(f"cannot upload {src} to key {key!r}: no such file or directory")
        self._publish_copy(src, self.path_of(key))

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        """Copy the artifact at ``key`` to ``path`` (also atomically, so retries are safe)."""
        self._publish_copy(self._existing(key), Path(path).absolute())

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        """Keys starting with ``prefix`` (files; plus ``dir/`` entries when not recursive).

        Sorted like S3 listings, so both stores answer the same question the same way.
        """
        head, _, tail = prefix.lstrip("/").rpartition("/")
        base = self.root / check_key(head) if head else self.root
        if not base.is_dir():
            return []
        found: list[str] = []
        for entry in os.scandir(base):
            if is_internal_name(entry.name) or not entry.name.startswith(tail):
                continue
            key = f"{head}/{entry.name}" if head else entry.name
            if not entry.is_dir():
                found.append(key)
            elif not recursive:
                found.append(key + "/")
            else:
                for rel, _ in iter_files(entry.path):
                    if not any(map(is_internal_name, rel.split("/"))):
                        found.append(f"{key}/{rel}")
        return sorted(found)

    def copy(self, src: str, dst: str) -> None:
        """Copy one artifact to another key inside the store."""
        self._publish_copy(self._existing(src), self.path_of(dst))

    def get_md5(self, key: str) -> str:
        """md5 of a file, or of a directory's sorted (relative path, md5) pairs."""
        return local_md5(self._existing(key))

    # -- shared-filesystem extras -------------------------------------------------------
    def publish(self, src_path: str | os.PathLike[str], key: str) -> Path:
        """MOVE an attempt's output to ``key`` and return its new path.

        On the same filesystem this is one rename (no bytes copied). Across filesystems
        it copies to a temporary sibling, renames that in, then deletes the source.
        """
        src = Path(src_path)
        if not src.exists():
            raise StorageError(f"cannot publish {src} as {key!r}: no such file or directory")
        dest = self.path_of(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if os.lstat(src).st_dev == os.stat(dest.parent).st_dev:
            try:
                install(src, dest)  # one rename; a dir's old version is set aside first
                return dest
            except OSError as exc:  # EXDEV across bind mounts of one device: copy instead
                if exc.errno != errno.EXDEV:
                    raise StorageError(f"cannot publish {src} as {key!r}: {exc}") from exc
        self._publish_copy(src, dest)
        remove(src)
        return dest

    def link_into(self, key: str, dest: str | os.PathLike[str]) -> Path:
        """Make the artifact at ``key`` appear at ``dest`` as a symlink (no copy)."""
        target = self._existing(key)
        link = Path(dest)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise StorageError(f"cannot link {key!r} into {link}: something is already there")
        tmp = sibling(link, TMP_MARKER)
        os.symlink(target, tmp)
        os.replace(tmp, link)
        return link

    def content_hash(self, key: str) -> str:
        """Content hash of the artifact at ``key`` (see :func:`content_hash`)."""
        return content_hash(self._existing(key))

    def verify(self, key: str, expected_hash: str) -> None:
        """Raise ChecksumMismatch when the artifact at ``key`` differs from ``expected_hash``."""
        verify(self._existing(key), expected_hash)
