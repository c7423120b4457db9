"""Which content hash each published artifact path had, and which step made it.

Artifact values travel through references, stacking, sub-workflow outputs and reuse as
plain paths, so the hashes a producer recorded (``outputs["hashes"]``, keyed by path, see
:mod:`hpcflow.runtime.integrity`) are looked up by path when a consumer is launched.
"""

from __future__ import annotations

from typing import Any

from hpcflow.engine.model import Node
from hpcflow.runtime.integrity import leaves


class HashIndex:
    """Path → ``{"sha256", "stat", "step"}`` over the nodes of one workflow run."""

    def __init__(self) -> None:
        self._by_path: dict[str, dict[str, str]] = {}

    def add(self, node: Node) -> None:
        """Remember the hashes of ``node``'s outputs (nodes without any are ignored)."""
        hashes = (node.outputs or {}).get("hashes")
        if not isinstance(hashes, dict):
            return
        for path, rec in hashes.items():
            if isinstance(rec, dict) and "sha256" in rec:  # older stores keyed hashes by name
                self._by_path[path] = {**rec, "step": node.path}

    def for_inputs(self, artifacts: dict[str, Any]) -> dict[str, dict[str, str]]:
        """The records of the paths among a unit's input artifacts that have one."""
        found: dict[str, dict[str, str]] = {}
        for value in artifacts.values():
            for path in leaves(value):
                rec = self._by_path.get(path)
                if rec is not None:
                    found[path] = rec
        return found
