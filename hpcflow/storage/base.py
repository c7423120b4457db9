"""Dflow's ``StorageClient`` protocol and the key rules of an object store.

:class:`~hpcflow.storage.s3.S3Storage` implements it (a Kubernetes backend, whose pods
share no filesystem, will need exactly that); the runtime and ``upload_artifact`` /
``download_artifact`` reach a store only through :mod:`hpcflow.storage.remote`. On a
shared filesystem artifacts are plain paths and no store is involved.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hpcflow.errors import StorageError

#: Name of the object that marks an S3 artifact complete; written last on upload.
MANIFEST_NAME = ".hpcflow-manifest.json"
#: Marker in the names of temporary siblings; listings hide them.
TMP_MARKER = ".hpcflow-tmp-"


class StorageUnavailable(StorageError):
    """The store did not answer (endpoint down, network error); trying again may work."""

    transient = True


@runtime_checkable
class StorageClient(Protocol):
    """Dflow's storage client: '/'-separated keys naming a file or a directory (a prefix).

    ``upload``/``download`` of a directory recurse. Implementations publish atomically: a
    reader sees either no artifact at a key or a complete one, never half of one.
    """

    def upload(self, key: str, path: str) -> None:
        """Publish the local file or directory ``path`` under ``key``."""
        ...

    def download(self, key: str, path: str) -> None:
        """Copy the file or directory under ``key`` to the local ``path``."""
        ...

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        """Keys starting with ``prefix``; without ``recursive``, sub-prefixes end in '/'."""
        ...

    def copy(self, src: str, dst: str) -> None:
        """Copy the artifact under ``src`` to ``dst`` inside the store."""
        ...

    def get_md5(self, key: str) -> str:
        """MD5 hex digest of a file, or of a directory's sorted (path, md5) list."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` without surrounding '/', refusing keys that could escape the store.

    Keys come from workflow names, step keys and user dict keys, so '..' and empty
    segments are rejected rather than silently normalised.
    """
    if not isinstance(key, str):
        raise StorageError(f"storage key must be a string, got {type(key).__name__}")
    stripped = key.strip("/")
    if not stripped:
        raise StorageError("storage key is empty")
    for part in stripped.split("/"):
        if part in ("", ".", ".."):
            raise StorageError(f"storage key {key!r} has an empty, '.' or '..' segment")
        if "\\" in part or "\0" in part:
            raise StorageError(f"storage key {key!r} contains a backslash or NUL")
        if part == MANIFEST_NAME or TMP_MARKER in part:
            raise StorageError(f"storage key {key!r} uses a name reserved by hpcflow")
    return stripped


def join_key(*parts: str) -> str:
    """Join key segments with '/', ignoring empty ones."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def is_internal_name(name: str) -> bool:
    """True for names the stores use for their own bookkeeping (hidden from listings)."""
    return name == MANIFEST_NAME or TMP_MARKER in name or ".hpcflow-trash-" in name
