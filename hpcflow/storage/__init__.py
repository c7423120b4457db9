"""Artifact storage: Dflow's StorageClient seam, the shared-filesystem and S3 stores, and the
artifact layer that keeps list/dict structure and content hashes above them."""

from __future__ import annotations

from hpcflow.storage.artifacts import (
    ArtifactRef,
    fetch_artifact,
    stack_artifacts,
    store_artifact,
    sub_path,
)
from hpcflow.storage.base import StorageClient, StorageUnavailable
from hpcflow.storage.credentials import S3Credentials, load_credentials
from hpcflow.storage.factory import from_site
from hpcflow.storage.hashing import content_hash, verify
from hpcflow.storage.s3 import S3Storage
from hpcflow.storage.shared import SharedFSStorage

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
