"""Inputs a unit's producers had not made yet when its job was submitted.

A step chained with ``--dependency=afterok`` (or fused into its parent's job) is submitted
while its parents still run, so the engine cannot write their output values into
``task.json``. It writes a *source* instead, under ``TaskRecord.deferred``:

    {"step": "s3", "output": "y", "stack": false, "units": [{"dir": ".../s3/attempt-1"}]}

``units`` are the producing units in order: a directory to read (its exit record, which
holds the outputs, or ``outputs.json`` beside it for large outputs and older attempts), or ``{"value": ...}`` for a producer that had already finished. A single
source takes the one unit's output; a stacked one (the reduce of a fan-out) takes them
all, as the engine stacks a fan-out's outputs: parameters as a list, artifacts merged
into one list. The values are those the engine would have written, codec-encoded as in
``outputs.json``.
"""

from __future__ import annotations

from typing import Any

from hpcflow import frozen
from hpcflow.errors import CorruptRecord
from hpcflow.python.op import FatalError, TransientError
from hpcflow.runtime import records as rec
from hpcflow.spec.model import TaskRecord


class ProducerNotFinished(TransientError):
    """A producer's exit record is not there (yet): a shared filesystem may lag behind the
    scheduler, so a new attempt may find it."""


class ProducerUnusable(FatalError):
    """A producer failed, or its outputs lack the value: running again cannot help."""


def resolve(task: TaskRecord) -> TaskRecord:
    """``task`` with every deferred input read from its producers (unchanged if none)."""
    if not task.deferred:
        return task
    params = dict(task.parameters)
    arts = dict(task.artifacts)
    hashes = dict(task.input_hashes)
    for name, source in (task.deferred.get("parameters") or {}).items():
        params[name] = _value(task, "parameters", name, source, hashes)
    for name, source in (task.deferred.get("artifacts") or {}).items():
        arts[name] = _value(task, "artifacts", name, source, hashes)
    return frozen.replace(task, parameters=params, artifacts=arts, input_hashes=hashes,
                               deferred={})


def _value(task: TaskRecord, section: str, name: str, source: dict[str, Any],
           hashes: dict[str, Any]) -> Any:
    step, output = source.get("step", "?"), source["output"]
    values = [_unit_output(task, section, name, step, output, unit, hashes)
              for unit in source.get("units") or ()]
    if not source.get("stack"):
        if len(values) != 1:
            raise ProducerUnusable(f"step {task.step}: deferred input {name!r} names "
                                   f"{len(values)} producers, expected one")
        return values[0]
    if section == "parameters":
        return values
    merged: list[Any] = []
    for value in values:
        if value is not None:
            merged.extend(value if isinstance(value, list) else [value])
    return merged


def _unit_output(task: TaskRecord, section: str, name: str, step: str, output: str,
                 unit: dict[str, Any], hashes: dict[str, Any]) -> Any:
    if "value" in unit:
        return unit["value"]
    where = str(unit["dir"])  # str: a chained reduce imports no pathlib
    what = f"step {task.step}: input {name!r} comes from output {output!r} of step {step}"
    try:
        record = rec.read_exit(where)
        # in the exit record; in outputs.json when large, or in the layout before that
        outputs = rec.read_outputs(where, record) if record is not None \
            and record.get("status") == "succeeded" else None
    except CorruptRecord as exc:
        raise ProducerUnusable(f"{what}, whose record is damaged: {exc}") from exc
    if record is None:
        raise ProducerNotFinished(f"{what}, which has no exit record in {where} (not finished?)")
    if record.get("status") != "succeeded" or outputs is None:
        raise ProducerUnusable(f"{what}, which did not succeed ({where}): "
                               f"{record.get('message') or record.get('status')}")
    section_values = outputs.get(section) or {}
    if output not in section_values:
        if section == "artifacts":
            return None  # an optional artifact it did not produce, as the engine reads it
        raise ProducerUnusable(f"{what}, which did not output it ({where})")
    for path, digest in (outputs.get("hashes") or {}).items():
        if isinstance(digest, dict) and "sha256" in digest:
            hashes[path] = {**digest, "step": step}
    return section_values[output]
