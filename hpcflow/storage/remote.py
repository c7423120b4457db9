"""The one storage seam: artifacts on object storage as the engine and the runtime see
them, ``s3://`` URIs.

With an S3 site, every artifact value leaf is the URI of a published artifact. The
runtime fetches inputs to node-local scratch before the OP runs and publishes outputs
after it (files first, manifest last, so a half upload is never read); the engine only
passes URIs along; ``upload_artifact`` / ``download_artifact`` use the same functions.
Credentials come from the environment or the site's credentials file on the node, never
from anything hpcflow writes. (On a shared filesystem artifacts are plain paths and this
module is not involved.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpcflow.errors import StorageError

if TYPE_CHECKING:
    from hpcflow.storage.s3 import S3Storage

SCHEME = "s3://"


def is_s3(settings: Mapping[str, Any] | None) -> bool:
    return settings is not None and bool(settings) and settings.get("kind") == "s3"


def open_store(settings: Mapping[str, Any]) -> S3Storage:
    from hpcflow.storage.s3 import S3Storage

    return S3Storage.from_settings(dict(settings))


def uri_of(store: S3Storage, key: str) -> str:
    return f"{SCHEME}{store.bucket}/{store.object_name(key)}"


def key_of(store: S3Storage, uri: str) -> str:
    """The store key of ``s3://bucket/prefix/key``."""
    head = f"{SCHEME}{store.bucket}/" + (f"{store.prefix}/" if store.prefix else "")
    if not uri.startswith(head):
        raise StorageError(f"artifact {uri} is not in this site's storage ({head})")
    return uri[len(head):]


def map_leaves(value: Any, fn: Callable[[str, str], Any], path: str = "") -> Any:
    """Apply ``fn(leaf, position)`` to every path of a path / list / dict artifact value."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [map_leaves(v, fn, f"{path}/{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: map_leaves(v, fn, f"{path}/{k}") for k, v in value.items()}
    return fn(str(value), path)


def fetch(store: S3Storage, value: Any, dest: Path) -> Any:
    """Download every ``s3://`` leaf below ``dest``; other leaves (local paths) stay."""

    def one(leaf: str, position: str) -> str:
        if not leaf.startswith(SCHEME):
            return leaf
        key = key_of(store, leaf)
        target = dest / position.strip("/") / Path(key).name if position else dest / Path(key).name
        store.download(key, str(target))
        return str(target)

    return map_leaves(value, one)


def publish(store: S3Storage, value: Any, key_prefix: str) -> Any:
    """Upload every local leaf under ``key_prefix``; return the value with URIs."""

    def one(leaf: str, position: str) -> str:
        if leaf.startswith(SCHEME):
            return leaf
        src = Path(leaf)
        key = "/".join(p for p in (key_prefix, position.strip("/"), src.name) if p)
        store.upload(key, str(src))
        return uri_of(store, key)

    return map_leaves(value, one)


def upload_new(store: S3Storage, value: Any) -> Any:
    """``upload_artifact`` on an S3 site."""
    return publish(store, value, f"uploads/{uuid.uuid4().hex[:12]}")
