"""Adaptive polling in the engine: a rate-limited scheduler is asked only when a query is
due, while every tick still advances and submits (the real local scheduler runs the jobs)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


class RateLimited:
    """The local scheduler, declared rate-limited (as Slurm is), counting its queries."""

    rate_limited = True

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.polls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def poll(self, task_ids):
        self.polls += 1
        return self.inner.poll(task_ids)


def test_ticks_without_a_due_query_still_finish_the_workflow(tmp_path: Path) -> None:
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    client = get_client()
    wf = Workflow("adaptive")
    sq = Step("sq", PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
              parameters={"x": [1.0, 2.0, 3.0]})
    nap = Step("nap", PythonOPTemplate(ops.sleepy), parameters={"seconds": 3, "log_dir": str(tmp_path)})
    tot = Step("tot", PythonOPTemplate(ops.total), parameters={"values": sq.outputs.parameters["y"]})
    wf.add([sq, nap])
    wf.add(tot)
    os.environ["HPCFLOW_SUBMIT_ONLY"] = "1"  # this test drives the engine itself
    try:
        wf.submit()
    finally:
        del os.environ["HPCFLOW_SUBMIT_ONLY"]
    sched = RateLimited(client.scheduler)
    engine = Engine(client.store, sched, client.settings, only={wf.id})
    ticks, due_times, t0 = 0, [], time.monotonic()
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed"):
        assert time.monotonic() - t0 < 120, "the workflow did not finish"
        report = engine.tick()
        ticks += 1
        if report.next_poll_at is not None:
            due_times.append(report.next_poll_at)
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert wf.query_step(name="tot")[0].outputs.parameters["sum"].value == 14.0
    # never more than one query a second (the policy's shortest gap), far fewer than ticks
    assert sched.polls <= elapsed / 1.0 + 2
    assert sched.polls < ticks / 3
    assert due_times, "ticks without a query say when the next one is due"


def test_the_local_scheduler_is_still_asked_every_tick() -> None:
    from hpcflow.client import get_client

    client = get_client()
    engine = client.engine()
    assert engine._poll_clock is None  # nothing rate-limits a scheduler that answers locally
