"""Nodes of a running workflow (the phases and types are :mod:`hpcflow.states`)."""

from __future__ import annotations

import functools
import json
import operator
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from hpcflow.engine.retry import RetryCounters
from hpcflow.states import FINAL_PHASES, NodeType, Phase
from hpcflow.store.rawjson import RawJson, decode

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
    #: The inputs as held (read them as :attr:`inputs`): a dict, ``None``, or, for a slice
    #: of a big fan-out, something that makes them when asked (:class:`LazyInputs`).
    inputs_held: dict[str, Any] | LazyInputs | RawJson | None = None
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

    @property
    def inputs(self) -> dict[str, Any] | None:
        """The node's resolved inputs. A held dict is returned itself (changes stick); lazy
        inputs are made anew on each read (assign the changed dict back to keep a change).

        A 100,000-slice fan-out would otherwise hold 100,000 copies of nearly the same
        nested dicts (~400 bytes each): a slice made at submission derives its inputs from
        the fan-out's (:class:`hpcflow.engine.slicing.SliceSource`), a slice loaded from the
        store keeps its row's JSON text until it is read."""
        held = self.inputs_held
        if held is None or type(held) is dict:
            return held
        if isinstance(held, RawJson):
            return decode(held)  # type: ignore[no-any-return]
        return held.inputs_of(self)  # type: ignore[union-attr]

    @inputs.setter
    def inputs(self, value: dict[str, Any] | None) -> None:
        self.inputs_held = value

    def to_row(self) -> dict[str, Any]:
        # A shallow dict: dataclasses.asdict deep-copies every input and output value.
        row = dict(zip(_FIELDS, _field_values(self), strict=True))
        held = row.pop("inputs_held")
        # Text the store wrote is written back as is; lazy inputs bring their own JSON.
        row["inputs"] = held if held is None or isinstance(held, (dict, RawJson)) else held.json_of(self)
        step = self.data.get("step")
        if len(self.data) == 1 and type(step) is list and len(step) == 2:
            row["data"] = _step_data_json(*step)  # most units' data: only their step
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Node:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        fields["inputs_held"] = row.get("inputs")
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


class LazyInputs(Protocol):
    """Inputs a node does not hold itself but derives when asked (shared by many nodes)."""

    def inputs_of(self, node: Node) -> dict[str, Any]: ...

    def json_of(self, node: Node) -> RawJson: ...


_FIELDS = tuple(Node.__dataclass_fields__)
#: All field values at once (in C: a fan-out saves 100,000 rows).
_field_values = operator.attrgetter(*_FIELDS)


@functools.lru_cache(maxsize=256)
def _step_data_json(template: Any, step: Any) -> RawJson:
    """The JSON of ``{"step": [template, step]}``, made once per step, not once per unit."""
    return RawJson(json.dumps({"step": [template, step]}))
#: Members by stored value: a dict lookup instead of ``Enum(value)`` for 100,000 rows.
_PHASES: dict[str, Phase] = {p.value: p for p in Phase}
_TYPES: dict[str, NodeType] = {t.value: t for t in NodeType}


def child_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
