"""Dflow's artifact structure kept above any StorageClient.

An artifact value is a path, an ordered list of values or a dict of values (nested dicts
are Dflow's ``NestedDict``). :func:`store_artifact` uploads each path under its own key and
returns an :class:`ArtifactRef`: a JSON-serialisable tree recording the structure, the
keys and each path's content hash. The engine stores refs, not bytes; :func:`fetch_artifact`
rebuilds the value with list order and dict keys kept, checking every hash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote

from hpcflow.errors import ChecksumMismatch, StorageError
from hpcflow.storage.base import StorageClient, check_key, join_key
from hpcflow.storage.fsutil import remove
from hpcflow.storage.hashing import content_hash

#: What an OP receives or returns for an artifact.
ArtifactValue = Union[Path, list["ArtifactValue"], dict[str, "ArtifactValue"]]
REF_VERSION = 1


@dataclass(frozen=True)
class PathNode:
    """One file or directory published under ``key``; ``name`` is its local basename."""

    key: str
    name: str
    is_dir: bool | None
    #: Content hash when published; None for a sub-path inside a published directory.
    sha256: str | None


@dataclass(frozen=True)
class ListNode:
    """An ordered list artifact."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class DictNode:
    """A dict artifact; items keep their insertion order."""

    items: tuple[tuple[str, Node], ...]


Node = Union[PathNode, ListNode, DictNode]


def _node_to_json(node: Node) -> dict[str, Any]:
    if isinstance(node, PathNode):
        return {"key": node.key, "name": node.name, "is_dir": node.is_dir, "sha256": node.sha256}
    if isinstance(node, ListNode):
        return {"list": [_node_to_json(n) for n in node.items]}
    return {"dict": {k: _node_to_json(n) for k, n in node.items}}


def _node_from_json(data: Any) -> Node:
    if not isinstance(data, dict):
        raise StorageError(f"artifact reference is malformed: {data!r} is not an object")
    if "list" in data:
        return ListNode(tuple(_node_from_json(n) for n in data["list"]))
    if "dict" in data:
        return DictNode(tuple((str(k), _node_from_json(n)) for k, n in data["dict"].items()))
    try:
        return PathNode(str(data["key"]), str(data["name"]), data.get("is_dir"), data.get("sha256"))
    except KeyError as exc:
        raise StorageError(f"artifact reference is malformed: missing {exc}") from None


@dataclass(frozen=True)
class ArtifactRef:
    """Where a structured artifact lives and what its content hashes were."""

    root: Node

    @property
    def kind(self) -> str:
        """ "path", "list" or "dict"."""
        return {PathNode: "path", ListNode: "list", DictNode: "dict"}[type(self.root)]

    def to_dict(self) -> dict[str, Any]:
        return {"version": REF_VERSION, "root": _node_to_json(self.root)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactRef:
        if data.get("version") != REF_VERSION:
            raise StorageError(f"artifact reference has unknown version {data.get('version')!r}")
        return cls(_node_from_json(data.get("root")))

    @classmethod
    def from_json(cls, text: str) -> ArtifactRef:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StorageError(f"artifact reference is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StorageError("artifact reference is not a JSON object")
        return cls.from_dict(data)

    def keys(self) -> list[str]:
        """Every storage key this artifact uses, in structure order."""
        out: list[str] = []

        def walk(node: Node) -> None:
            if isinstance(node, PathNode):
                out.append(node.key)
            elif isinstance(node, ListNode):
                for item in node.items:
                    walk(item)
            else:
                for _, item in node.items:
                    walk(item)

        walk(self.root)
        return out


def key_segment(name: str) -> str:
    """A dict key as one safe key segment ('/' and '%' escaped; '.', '..' and '' too)."""
    seg = quote(name, safe=" -_.~+=,@")
    if seg in ("", ".", ".."):
        seg = seg.replace(".", "%2E") or "%"
    return seg


def _store(client: StorageClient, prefix: str, value: Any, where: str) -> Node:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.exists():
            raise StorageError(f"artifact {where or 'value'}: {path} does not exist")
        name = path.resolve().name
        key = check_key(join_key(prefix, name))
        digest = content_hash(path)
        client.upload(key, str(path))
        return PathNode(key, name, path.is_dir(), digest)
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)  # Dflow's Set[...] has no order: make one up, stably
    if isinstance(value, (list, tuple)):
        return ListNode(
            tuple(
                _store(client, join_key(prefix, str(i)), v, f"{where}[{i}]")
                for i, v in enumerate(value)
            )
        )
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise StorageError(f"artifact {where or 'value'}: dict key {k!r} is not a string")
            items.append(
                (k, _store(client, join_key(prefix, key_segment(k)), v, f"{where}[{k!r}]"))
            )
        return DictNode(tuple(items))
    raise StorageError(
        f"artifact {where or 'value'} is a {type(value).__name__}; "
        "expected a path, a list of paths or a dict of paths"
    )


def store_artifact(client: StorageClient, key_prefix: str, value: Any) -> ArtifactRef:
    """Upload a path / list / (nested) dict of local paths under ``key_prefix``.

    A path goes to ``<prefix>/<basename>``, list item i under ``<prefix>/<i>/``, dict item
    k under ``<prefix>/<k>/``, so equal basenames in different items never collide.
    """
    return ArtifactRef(_store(client, check_key(key_prefix), value, ""))


def _fetch(client: StorageClient, node: Node, dest: Path, link: bool, check: bool) -> Any:
    if isinstance(node, ListNode):
        return [_fetch(client, n, dest / str(i), link, check) for i, n in enumerate(node.items)]
    if isinstance(node, DictNode):
        return {k: _fetch(client, n, dest / key_segment(k), link, check) for k, n in node.items}
    target = dest / node.name
    link_into = getattr(client, "link_into", None)
    if link and link_into is not None:
        link_into(node.key, target)
    else:
        client.download(node.key, str(target))
    if check and node.sha256 is not None:
        actual = content_hash(target)
        if actual != node.sha256:
            remove(target)  # never leave unverified bytes (or a link to them) for a step
            raise ChecksumMismatch(
                f"artifact {node.key} fetched to {target} does not match its recorded hash: "
                f"expected sha256 {node.sha256}, found {actual}"
            )
    return target


def fetch_artifact(
    client: StorageClient,
    ref: ArtifactRef,
    dest_dir: str | os.PathLike[str],
    *,
    link: bool = False,
    verify: bool = True,
) -> Any:
    """Download ``ref`` under ``dest_dir`` and return paths in the original structure.

    A path lands at ``dest_dir/<name>``, list item i under ``dest_dir/<i>/``, dict item k
    under ``dest_dir/<k>/``. ``link=True`` symlinks instead of copying when the client can
    (the shared store). Every recorded hash is checked unless ``verify=False``.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    return _fetch(client, ref.root, dest, link, verify)


def sub_path(ref: ArtifactRef, path: str) -> ArtifactRef:
    """The part of ``ref`` at ``path``: dict keys, list indexes, then paths in a directory."""
    parts = [p for p in path.strip("/").split("/") if p]
    node = ref.root
    for i, part in enumerate(parts):
        if isinstance(node, DictNode):
            found = dict(node.items)
            if part not in found:
                raise StorageError(f"sub_path {path!r}: no key {part!r} (have {list(found)})")
            node = found[part]
        elif isinstance(node, ListNode):
            if not part.isdigit() or int(part) >= len(node.items):
                raise StorageError(
                    f"sub_path {path!r}: {part!r} is not an index below {len(node.items)}"
                )
            node = node.items[int(part)]
        else:
            if node.is_dir is False:
                raise StorageError(f"sub_path {path!r}: {node.key} is a file, not a directory")
            rest = "/".join(parts[i:])
            return ArtifactRef(PathNode(check_key(join_key(node.key, rest)), parts[-1], None, None))
    return ArtifactRef(node)


def stack_artifacts(refs: list[ArtifactRef], *, flatten: bool = True) -> ArtifactRef:
    """Merge slices' outputs, in slice order, into one list artifact.

    A slice that produced a list contributes its items (Dflow keeps the declared
    ``List[Path]`` type when stacking); any other output becomes one item.
    """
    items: list[Node] = []
    for ref in refs:
        if flatten and isinstance(ref.root, ListNode):
            items.extend(ref.root.items)
        else:
            items.append(ref.root)
    return ArtifactRef(ListNode(tuple(items)))
