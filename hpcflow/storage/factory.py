"""Build the StorageClient a site's configuration asks for.

The site-configuration package owns validation; this module only reads the few fields
storage needs, from a Mapping or from any object with those attributes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpcflow.errors import StorageError
from hpcflow.storage.base import StorageClient


def setting(settings: Any, name: str, default: Any = None) -> Any:
    """Field ``name`` of a Mapping or attribute object, or ``default``."""
    if isinstance(settings, Mapping):
        return settings.get(name, default)
    return getattr(settings, name, default)


def from_site(settings: Any, *, root: str | os.PathLike[str] | None = None) -> StorageClient:
    """A store from storage settings: ``kind`` "shared" (default) or "s3".

    Shared stores use ``root`` if given, else the settings' ``root`` or ``shared_root``.
    S3 stores read endpoint_url, bucket, prefix, region, credentials_file and
    multipart_threshold_mb; credentials come from the environment or that file only.
    """
    kind = str(setting(settings, "kind", "shared") or "shared").lower()
    if kind == "shared":
        where = root or setting(settings, "root") or setting(settings, "shared_root")
        if not where:
            raise StorageError("shared storage needs a root directory (storage.root)")
        from hpcflow.storage.shared import SharedFSStorage

        return SharedFSStorage(Path(where).expanduser())
    if kind == "s3":
        from hpcflow.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    raise StorageError(f"unknown storage kind {kind!r}; expected 'shared' or 's3'")
