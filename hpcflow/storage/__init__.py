"""Artifact storage. On a shared filesystem artifacts are plain paths and need no store; on
S3 they are ``s3://`` URIs, moved by :mod:`.remote` through an :class:`S3Storage`, which
implements Dflow's ``StorageClient`` protocol (:mod:`.base`)."""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: the runtime imports hpcflow.storage.hashing on every job and must
# not pay for boto3 or the S3 store.
_EXPORTS = {
    "StorageClient": "base", "StorageUnavailable": "base",
    "S3Credentials": "credentials", "load_credentials": "credentials",
    "content_hash": "hashing", "S3Storage": "s3",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hpcflow.storage' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hpcflow.storage.{module}"), name)


__all__ = [
    "S3Credentials",
    "S3Storage",
    "StorageClient",
    "StorageUnavailable",
    "content_hash",
    "load_credentials",
]
