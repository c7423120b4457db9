"""Nodes of a running workflow (the phases and types are :mod:`hpcflow.states`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hpcflow.engine.retry import RetryCounters
from hpcflow.states import FINAL_PHASES, NodeType, Phase

# Short names for the engine's modules, which compare phases and types all the time.
PENDING, RUNNING, SUCCEEDED = Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED
FAILED, SKIPPED, OMITTED = Phase.FAILED, Phase.SKIPPED, Phase.OMITTED
FINAL = FINAL_PHASES
POD, STEPS, DAG, FANOUT = NodeType.POD, NodeType.STEPS, NodeType.DAG, NodeType.FANOUT


@dataclass(slots=True)
class Node:
    """One step instance: a unit (Pod), a super-OP (Steps/DAG) or a fan-out of items/slices."""

    path: str
    parent: str | None
    name: str
    template: str | None
    type: NodeType
    phase: Phase = PENDING
    key: str | None = None
    item: Any = None
    slice_index: int | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    message: str | None = None
    #: The number of the latest attempt (0: none yet).
    attempts: int = 0
    #: Retries used for the OP's own failures and for failures of the system.
    retries: int = 0
    system_retries: int = 0
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
        fields["phase"] = _PHASES.get(fields["phase"]) or Phase(fields["phase"])  # Enum() is slow
        fields["type"] = _TYPES.get(fields["type"]) or NodeType(fields["type"])
        return cls(**fields)

    @property
    def counters(self) -> RetryCounters:
        return RetryCounters(self.retries, self.system_retries)

    def finish(self, phase: Phase, message: str | None = None) -> None:
        self.phase = phase
        if message is not None:
            self.message = message
        self.finished_at = time.time()


_FIELDS = tuple(Node.__dataclass_fields__)
#: Members by stored value: a dict lookup instead of ``Enum(value)`` for 100,000 rows.
_PHASES: dict[str, Phase] = {p.value: p for p in Phase}
_TYPES: dict[str, NodeType] = {t.value: t for t in NodeType}


def child_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
