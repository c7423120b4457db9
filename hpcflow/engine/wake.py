"""Recording a dormant workflow's finished units without loading the workflow.

A cron ``hpcflow tick`` that sees 32 of 100,000 slices leave the queue need not load
100,000 nodes (seconds, and a hundred megabytes) to record 32 successes. When every unit
those jobs ran succeeded and is a slice (or item) of a fan-out that keeps other children
unfinished, nothing but those units can change (a fan-out finishes only when all its
children have): their attempts close, their outputs and phase are recorded (as
:meth:`~hpcflow.engine.observe.Observer._apply_exit` and ``WorkflowRun.complete_unit``
do in a full tick), and the workflow stays quiet at its new revision (:mod:`quiet`).

Anything else loads the whole run as before: a failure (retries, ``continue_on_*``), a
missing or damaged record (grace periods, lost jobs), a unit launched early (chained or
fused), the last children of a fan-out (it finishes, and what follows it starts), a unit
outside a fan-out, or a write
by another process since the workflow was marked quiet.
"""

from __future__ import annotations

import time
from typing import Any

from hpcflow.engine.model import POD, Node
from hpcflow.engine.run import WorkflowRun
from hpcflow.engine.state import EngineState
from hpcflow.errors import HpcflowError
from hpcflow.runtime import records as rec
from hpcflow.states import AttemptStatus

#: ``node.data`` keys of units launched early (hpcflow.engine.chain): their producers'
#: outcomes decide first, which needs the run.
_EARLY = ("after", "deferred", "chain", "chained_to")


def record_successes(engine: EngineState, wf_id: str, gone: set[str]) -> int | None:
    """Record the units of a dormant workflow's jobs ``gone`` from the queue, if they all
    succeeded and the workflow has other jobs in flight; return how many units, or
    ``None`` (nothing changed: load the run)."""
    flying = engine._dormant_jobs[wf_id]
    if not gone or len(gone) >= len(flying):
        return None
    rows = engine.store.attempts_of_jobs(wf_id, gone)
    if not rows or any(row[4] != AttemptStatus.SUBMITTED for row in rows):
        return None
    finished = _succeeded(rows)
    if finished is None:
        return None
    nodes = {n.path: n for n in (Node.from_row(r) for r in engine.store.load_nodes_at(
        wf_id, [row[0] for row in rows], raw_inputs=True))}
    if any(not _plain_unit(nodes.get(row[0]), row[1]) for row in rows):
        return None
    if not _siblings_remain(engine, wf_id, list(nodes.values())):
        return None
    run = WorkflowRun(engine.store.get_workflow(wf_id), list(nodes.values()))
    try:
        for (path, _, _, _, _, _, _, _), outputs in zip(rows, finished, strict=True):
            run.complete_unit(nodes[path], outputs)
            engine.cache.record(run, nodes[path])
    except HpcflowError:
        return None  # an output default that needs the rest of the run
    revision = _write(engine, run, rows, engine._dormant[wf_id])
    if revision is None:
        return None
    engine._dormant[wf_id] = revision
    engine._dormant_jobs[wf_id] = [job for job in flying if job not in gone]
    return len(rows)


def _succeeded(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]] | None:
    """The outputs of each attempt, if every one of them left a success record."""
    out = []
    for row in rows:
        try:
            record = rec.read_exit(row[2])
            if record is None or record.get("status") != "succeeded":
                return None
            out.append(rec.read_outputs(row[2], record))
        except HpcflowError:  # a damaged record fails its attempt: the run decides
            return None
    return out


def _plain_unit(node: Node | None, number: int) -> bool:
    """A unit waiting for this very attempt, not launched early."""
    return (node is not None and node.type == POD and not node.final and node.attempts == number
            and not any(k in node.data for k in _EARLY))


def _siblings_remain(engine: EngineState, wf_id: str, units: list[Node]) -> bool:
    """Whether each unit is a slice (or item) of a fan-out that keeps other children
    unfinished: then its success cannot finish the fan-out or start anything after it."""
    finishing: dict[str, int] = {}
    for node in units:
        if node.parent is None or node.slice_index is None:
            return False
        finishing[node.parent] = finishing.get(node.parent, 0) + 1
    return all(engine.store.unfinished_children(wf_id, parent) > count
               for parent, count in finishing.items())


def _write(engine: EngineState, run: WorkflowRun, rows: list[tuple[Any, ...]], quiet_at: int) -> int | None:
    """One transaction: the attempts closed, the units and their events, a new revision
    marked quiet. ``None`` (and nothing written) if another process wrote since the
    workflow was marked quiet at ``quiet_at``."""
    store, now = engine.store, time.time()
    with store.transaction() as conn:
        current = conn.execute("SELECT revision FROM workflows WHERE id = ?", (run.id,)).fetchone()
        if current is None or current[0] != quiet_at:
            return None
        store.update_attempts((run.id, row[0], row[1], {
            "status": AttemptStatus.SUCCEEDED, "kind": None, "message": "", "finished_at": now})
            for row in rows)
        store.save_nodes(run.id, (node.to_row() for node in run.dirty.values()))
        store.add_events(run.id, run.events)
        revision = store.bump_revision(run.id)
        store.mark_quiet(run.id, revision)
    return revision
