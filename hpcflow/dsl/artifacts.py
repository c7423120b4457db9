"""upload_artifact / download_artifact: move files between the user's disk and the store."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from hpcflow.errors import SpecError, StorageError
from hpcflow.spec.build import StoredArtifact


def upload_artifact(path: Any, archive: Any = "default", **ignored: Any) -> StoredArtifact:
    """Copy local files (a path, a list or a dict of paths) into the artifact store.

    A copy, so that later edits to the user's files cannot change a submitted workflow.
    """
    from hpcflow.client import get_client

    root = get_client().settings.work_root / "uploads" / uuid.uuid4().hex[:12]
    return StoredArtifact(_copy_in(path, root), key=str(root))


def _copy_in(value: Any, dest: Path) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_copy_in(v, dest / str(i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _copy_in(v, dest / str(k)) for k, v in value.items()}
    src = Path(value)
    if not src.exists():
        raise SpecError(f"upload_artifact: {src} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / src.name
    if src.is_dir():
        shutil.copytree(src, target, symlinks=False)
    else:
        shutil.copy2(src, target)
    return str(target.resolve())


def download_artifact(artifact: Any, path: str | os.PathLike[str] = ".", **ignored: Any) -> list[str]:
    """Copy an artifact's files to ``path``; returns the local paths (list/dict order kept)."""
    value = getattr(artifact, "value", artifact)
    dest = Path(path)
    dest.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    _copy_out(value, dest, out)
    return out


def _copy_out(value: Any, dest: Path, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for v in value:
            _copy_out(v, dest, out)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _copy_out(v, dest / str(k), out)
        return
    src = Path(value)
    if not src.exists():
        raise StorageError(f"download_artifact: {src} does not exist (was the workflow's work directory removed?)")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / src.name
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True)
    else:
        shutil.copy2(src, target)
    out.append(str(target))
