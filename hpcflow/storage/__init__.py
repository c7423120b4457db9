"""Artifact storage: Dflow's StorageClient seam, the shared-filesystem and S3 stores, and the
artifact layer that keeps list/dict structure and content hashes above them."""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: the runtime imports hpcflow.storage.hashing on every job and must
# not pay for boto3 or the S3 store.
_EXPORTS = {
    "ArtifactRef": "artifacts", "fetch_artifact": "artifacts", "stack_artifacts": "artifacts",
    "store_artifact": "artifacts", "sub_path": "artifacts",
    "StorageClient": "base", "StorageUnavailable": "base",
    "S3Credentials": "credentials", "load_credentials": "credentials",
    "from_site": "factory", "content_hash": "hashing", "verify": "hashing",
    "S3Storage": "s3", "SharedFSStorage": "shared",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hpcflow.storage' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hpcflow.storage.{module}"), name)


__all__ = [
    "ArtifactRef",
    "S3Credentials",
    "S3Storage",
    "SharedFSStorage",
    "StorageClient",
    "StorageUnavailable",
    "content_hash",
    "fetch_artifact",
    "from_site",
    "load_credentials",
    "stack_artifacts",
    "store_artifact",
    "sub_path",
    "verify",
]
