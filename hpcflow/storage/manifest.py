"""The manifest that makes an S3 artifact complete.

Object stores have no rename, so atomic publication is done the other way round: the
files go up first and ``<key>/.hpcflow-manifest.json`` goes up LAST. A key with no
manifest is an interrupted upload and is refused; a manifest lists every file with its
size and sha256, so a download can prove it got exactly what was published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from hpcflow.errors import StorageError
from hpcflow.storage.hashing import tree_hash

FORMAT = "hpcflow-manifest"
VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    """One published file: path relative to the key ('' when the key is the file)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What was published under one key: a single file or a directory of files."""

    kind: Literal["file", "dir"]
    files: tuple[FileEntry, ...]

    @property
    def total_sha256(self) -> str:
        """Same value as ``content_hash`` of the local file or directory that was uploaded."""
        if self.kind == "file":
            return self.files[0].sha256
        return tree_hash((f.path, f.sha256) for f in self.files)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "kind": self.kind,
                "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
                "total_sha256": self.total_sha256,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> Manifest:
        """Parse and self-check a manifest; ``where`` names it in errors."""
        try:
            data: Any = json.loads(text)
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError("unknown format or version")
            kind = data["kind"]
            if kind not in ("file", "dir"):
                raise ValueError(f"bad kind {kind!r}")
            files = tuple(
                FileEntry(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in data["files"]
            )
            manifest = cls(kind, files)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StorageError(f"manifest {where} is unreadable: {exc}") from None
        if kind == "file" and (len(files) != 1 or files[0].path != ""):
            raise StorageError(f"manifest {where} is unreadable: a file manifest needs one entry")
        if manifest.total_sha256 != data.get("total_sha256"):
            raise StorageError(f"manifest {where} is corrupt: its total hash does not add up")
        return manifest

    def covering(self, rel: str) -> Manifest | None:
        """The part of this directory manifest that describes sub-key ``rel``, if any.

        Lets ``sub_path`` reach into a published directory: the sub-key has no manifest of
        its own but is complete because its ancestor's is.
        """
        if self.kind != "dir":
            return None
        for f in self.files:
            if f.path == rel:
                return Manifest("file", (FileEntry("", f.size, f.sha256),))
        inner = tuple(
            FileEntry(f.path[len(rel) + 1 :], f.size, f.sha256)
            for f in self.files
            if f.path.startswith(rel + "/")
        )
        return Manifest("dir", inner) if inner else None
