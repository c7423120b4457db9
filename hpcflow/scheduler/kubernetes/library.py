"""hpcflow as one zip for the pods (the Kubernetes analogue of ``.hpcflow-lib``).

The zip holds what the runtime imports: hpcflow (without the web dashboard) and the pure
Python helpers that load shipped OPs (cloudpickle, jsonpickle). It is byte-for-byte the
same for the same sources (sorted entries, fixed timestamps), so its digest names one
immutable ConfigMap per hpcflow version.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import cast

SHIPPED = ("hpcflow", "cloudpickle", "jsonpickle")
_SKIP = {("hpcflow", "ui")}  # the dashboard: templates and Starlette, never used in a pod
_EPOCH = (1980, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def library_zip() -> tuple[str, bytes]:
    """(digest, zip bytes) of the shipped packages."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in SHIPPED:
            module = importlib.import_module(name)
            root = Path(cast(str, module.__file__)).resolve().parent  # a package: it has a file
            for path in sorted(root.rglob("*.py")):
                rel = path.relative_to(root)
                if (name, rel.parts[0]) in _SKIP:
                    continue
                info = zipfile.ZipInfo(f"{name}/{rel.as_posix()}", date_time=_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    data = buf.getvalue()
    return hashlib.sha256(data).hexdigest(), data


def configmap_name(digest: str) -> str:
    return f"hpcflow-lib-{digest[:16]}"
