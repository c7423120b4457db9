"""The cache key of a unit: pure, from its template and its inputs' content hashes.

The key covers what decides a result (the OP's identity and source, ``cache_version``,
the image, the canonical encoding of the input parameters, the content of every input
artifact) and nothing that does not (resources, step names, keys, paths, mtimes), so the
same computation in another workflow, or after ``touch``, has the same key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: The parts of a key, in the order ``hpcflow cache explain`` shows them.
PART_NAMES = ("op", "source", "cache_version", "image", "outputs", "parameters", "artifacts")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def op_identity(tmpl: dict[str, Any]) -> str:
    """What names the code a template runs: module+qualname, a shipped OP's name, or for
    shell/script templates their kind only (their text is the source part; template
    names are not in the key)."""
    ref = tmpl.get("op") or {}
    if "module" in ref:
        return f"{ref['module']}:{ref['qualname']}"
    if ref:
        return f"shipped:{ref.get('name', '?')}"
    return str(tmpl["kind"])


def code_digest(tmpl: dict[str, Any]) -> str:
    """The source hash recorded at submit (Python OPs), or a hash of the script and the
    commands around it (shell/script templates and the hooks of any template)."""
    return _digest({"source": tmpl.get("source_hash"), "script": tmpl.get("script"),
                    "command": tmpl.get("command"), "pre": tmpl.get("pre_script"),
                    "post": tmpl.get("post_script"), "envs": tmpl.get("envs")})


def key_parts(tmpl: dict[str, Any], parameters: dict[str, Any],
              artifact_hashes: dict[str, str], image_digest: str | None = None) -> dict[str, Any]:
    """Every part of a unit's key (``artifact_hashes``: input name → content hash)."""
    return {
        "op": op_identity(tmpl),
        "source": code_digest(tmpl),
        "cache_version": tmpl.get("cache_version"),
        "image": {"ref": tmpl.get("image"), "digest": image_digest} if tmpl.get("image") else None,
        "outputs": _digest(tmpl.get("outputs")),
        "parameters": {k: _digest(v) for k, v in sorted(parameters.items())},
        "artifacts": dict(sorted(artifact_hashes.items())),
    }


def cache_key(parts: dict[str, Any]) -> str:
    return _digest(parts)


def differing_parts(parts: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Which parts differ (``parameters.x``, ``artifacts.data`` for the inputs)."""
    found: list[str] = []
    for name in PART_NAMES:
        mine, theirs = parts.get(name), other.get(name)
        if name in ("parameters", "artifacts") and isinstance(mine, dict) and isinstance(theirs, dict):
            found += [f"{name}.{k}" for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
        elif mine != theirs:
            found.append(name)
    return found
