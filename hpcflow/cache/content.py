"""Content hashes the cache needs from the shared filesystem: the inputs of a unit (to
build its key) and the outputs of a cached run (to check that a hit is still intact).

A producer's recorded hash is trusted while the path's stat fingerprint is unchanged (see
:mod:`hpcflow.runtime.integrity`); otherwise the content is hashed again, so ``touch``
costs one re-read and keeps the key, while one changed byte changes it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from hpcflow.errors import StorageError
from hpcflow.runtime.integrity import leaves


def path_hash(path: str, recorded: dict[str, str] | None = None) -> str | None:
    """The sha256 of a file or directory tree; ``None`` if it is gone or unreadable."""
    from hpcflow.storage.hashing import content_hash, stat_digest

    try:
        if recorded and stat_digest(path) == recorded.get("stat"):
            return recorded["sha256"]
        return content_hash(path)
    except (OSError, StorageError):
        return None


def artifact_hashes(artifacts: dict[str, Any], recorded: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """Input name → hash of the contents of its paths, in order; ``None`` if one cannot be
    read (a remote or S3 path: such a unit is not cached)."""
    out: dict[str, str] = {}
    for name, value in artifacts.items():
        if value is None:
            continue
        h = hashlib.sha256()
        for path in leaves(value):
            if "://" in path:
                return None
            digest = path_hash(path, recorded.get(path))
            if digest is None:
                return None
            h.update(f"{digest}\n".encode())
        out[name] = h.hexdigest()
    return out


def outputs_intact(outputs: dict[str, Any]) -> bool:
    """Every output artifact path of a cached run still exists with its recorded content."""
    recorded = outputs.get("hashes") or {}
    for value in (outputs.get("artifacts") or {}).values():
        for path in leaves(value):
            rec = recorded.get(path)
            if rec is None or path_hash(path, rec) != rec.get("sha256"):
                return False
    return True


def image_digest(image: str | None) -> str | None:
    """A local image file's sha256 (a .sif); registry references carry their own tag."""
    if image and image.endswith(".sif") and os.path.isfile(image):
        return path_hash(image)
    return None


def cacheable_outputs(outputs: dict[str, Any]) -> bool:
    """Only outputs whose every artifact path has a recorded hash can be verified later."""
    recorded = outputs.get("hashes") or {}
    return all(path in recorded for value in (outputs.get("artifacts") or {}).values()
               for path in leaves(value))
