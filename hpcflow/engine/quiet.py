"""Quiet workflows: every unfinished unit has an attempt in flight, and nothing else to do.

A fresh engine (cron's ``hpcflow tick``) need not load such a workflow's nodes (100,000
rows for a big fan-out) to learn that nothing changed: it polls the attempts and loads the
run only when one of them left the queue. The mark is the workflow's revision, so any write
since (a retry, a cancel, another engine's tick) makes it stale and the run is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable

from hpcflow.engine import model as m
from hpcflow.engine.run import WorkflowRun
from hpcflow.states import AttemptStatus


def is_quiet(run: WorkflowRun, attempt_statuses: Iterable[AttemptStatus]) -> bool:
    """Whether only the end of an attempt in flight can change ``run``: every attempt of it
    is submitted (none waits for a job id), nothing is pending, planned or unwritten."""
    statuses = list(attempt_statuses)
    if not statuses or any(s != AttemptStatus.SUBMITTED for s in statuses):
        return False
    if run.dirty or run.events or run.launches or run.withdrawn:
        return False
    root = run.nodes.get("")
    if root is None or root.final:
        return False
    return not any(node.phase == m.PENDING for node in run.nodes.values())
