"""Nodes of a running workflow and their phases (Dflow/Argo vocabulary)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
SKIPPED = "Skipped"
OMITTED = "Omitted"
FINAL = frozenset({SUCCEEDED, FAILED, SKIPPED, OMITTED})

#: Node types, as Dflow's ``query_step(type=...)`` knows them.
POD = "Pod"
STEPS = "Steps"
DAG = "DAG"
FANOUT = "FanOut"


@dataclass
class Node:
    """One step instance: a unit (Pod), a super-OP (Steps/DAG) or a fan-out of items/slices."""

    path: str
    parent: str | None
    name: str
    template: str | None
    type: str
    phase: str = PENDING
    key: str | None = None
    item: Any = None
    slice_index: int | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    message: str | None = None
    attempts: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def final(self) -> bool:
        return self.phase in FINAL

    @property
    def reused(self) -> bool:
        return bool(self.data.get("reused"))

    def to_row(self) -> dict[str, Any]:
        # A shallow dict: dataclasses.asdict deep-copies every input and output value.
        return {f: getattr(self, f) for f in _FIELDS}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Node:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        fields["data"] = fields.get("data") or {}
        return cls(**fields)

    def finish(self, phase: str, message: str | None = None) -> None:
        self.phase = phase
        if message is not None:
            self.message = message
        self.finished_at = time.time()


_FIELDS = tuple(Node.__dataclass_fields__)


def child_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
