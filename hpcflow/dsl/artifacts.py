"""upload_artifact / download_artifact: move files between the user's disk and the store."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, cast

from hpcflow.errors import SpecError, StorageError
from hpcflow.private import make_dirs
from hpcflow.spec.build import StoredArtifact


def upload_artifact(path: Any, archive: Any = "default", **ignored: Any) -> StoredArtifact:
    """Copy local files (a path, a list or a dict of paths) into the artifact store.

    A copy, so that later edits to the user's files cannot change a submitted workflow.
    """
    from hpcflow.client import get_client
    from hpcflow.storage import remote

    settings = get_client().settings
    local = remote.map_leaves(_as_lists(path), _existing)
    if remote.is_s3(settings.storage):
        return StoredArtifact(remote.upload_new(remote.open_store(settings.storage), local))
    root = settings.work_root / "uploads" / uuid.uuid4().hex[:12]
    make_dirs(root, settings.work_dir_mode)
    return StoredArtifact(_copy_in(local, root), key=str(root))


def _as_lists(value: Any) -> Any:
    """Sets become lists (order of iteration), paths stay as they are."""
    if isinstance(value, (set, frozenset, tuple)):
        return [_as_lists(v) for v in value]
    if isinstance(value, list):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_lists(v) for k, v in value.items()}
    return value


def _existing(leaf: str, _position: str) -> str:
    path = Path(leaf)
    if not path.exists():
        raise SpecError(f"upload_artifact: {leaf} does not exist")
    return str(path.resolve())


def _copy_in(value: Any, dest: Path) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_copy_in(v, dest / str(i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _copy_in(v, dest / str(k)) for k, v in value.items()}
    src = Path(value)
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
    from hpcflow.client import get_client

    client = get_client()
    if getattr(client, "remote", False):  # a remote site: the files are on the login node
        return cast("list[str]", client.download(value, dest))
    if _has_remote(value):
        from hpcflow.client import get_client
        from hpcflow.storage import remote

        settings = get_client().settings
        if not remote.is_s3(settings.storage):
            raise StorageError(f"download_artifact: {value!r} is on S3 but this site has no S3 storage")
        value = remote.fetch(remote.open_store(settings.storage), value, dest / ".fetched")
    out: list[str] = []
    _copy_out(value, dest, out)
    return out


def _relative_name(src: Path) -> Path:
    """Where a file goes under the download directory: its path relative to the work
    directory of the step that made it (``task.000/result.txt``), as Dflow keeps it, so the
    files of a list artifact with the same name do not overwrite each other."""
    parts = src.parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == "work" and parts[i - 1].startswith("attempt-"):
            return Path(*parts[i + 1:])
    return Path(src.name)


def _has_remote(value: Any) -> bool:
    from hpcflow.storage.remote import SCHEME, map_leaves

    found: list[bool] = []
    map_leaves(value, lambda leaf, _pos: found.append(leaf.startswith(SCHEME)))
    return any(found)


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
    target = dest / _relative_name(src)
    target.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True)
    else:
        shutil.copy2(src, target)
    out.append(str(target))
