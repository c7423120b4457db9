"""An attempt's files damaged between the job and the engine: the step fails with one error
naming the file, and the tick that finds it goes on (local mode; tests/chaos does it on Slurm)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate
from hpcflow.runtime import records as rec
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


def damage(unit: Path, how: str) -> str:
    """Damage ``unit`` and return what the step's message must say."""
    if how == "deleted":
        shutil.rmtree(unit)
        return f"the attempt directory {unit} was deleted"
    if how == "outputs":  # outputs in a file of their own (large ones; older attempts)
        record = rec.read_exit(unit) or {}
        outputs = json.dumps(record.pop("outputs"))
        (unit / rec.OUTPUTS_FILE).write_text(outputs[:7])
        rec.write_json_atomic(unit / rec.EXIT_FILE, record)
        return f"{unit / rec.OUTPUTS_FILE} is corrupt"
    path = unit / rec.EXIT_FILE
    path.write_text(path.read_text()[:7])
    return f"{path} is corrupt"


def _first_attempt_written(wf: Workflow) -> tuple[Any, Any, dict[str, Any], float]:
    """Submit ``wf``, tick once (its first step is submitted) and wait until that step's
    only attempt has written its exit record; the client, the engine, the attempt and the
    deadline the wait had (the tests give the rest of the workflow 30 s more)."""
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    wf.submit()
    client = get_client()
    engine = Engine(client.store, client.scheduler, client.settings, only={wf.id})
    engine.tick()
    (attempt,) = client.store.attempts(wf.id)
    unit = Path(attempt["dir"])
    deadline = time.monotonic() + 30
    while not (unit / rec.EXIT_FILE).exists():
        assert time.monotonic() < deadline, "the job never wrote its exit record"
        time.sleep(0.02)
    return client, engine, attempt, deadline


@pytest.mark.parametrize("how", ["exit", "outputs", "deleted"])
def test_a_damaged_attempt_fails_its_step_and_not_the_tick(how: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")  # this test drives the engine itself
    wf = Workflow("damaged")
    wf.add(Step("add", PythonOPTemplate(ops.add), parameters={"a": 1}))
    wf.add(Step("after", PythonOPTemplate(ops.add), parameters={"a": 2}))
    client, engine, attempt, deadline = _first_attempt_written(wf)
    unit = Path(attempt["dir"])
    expected = damage(unit, how)
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline + 30, client.store.workflow_status(wf.id)
        engine.tick()  # raises if the damage crashes the tick
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Failed"
    (step,) = wf.query_step(name="add")
    assert step.phase == "Failed" and expected in step.message, step.message
    assert wf.query_step(name="after") == []  # the workflow stopped there, nothing ran after


def test_an_attempt_in_the_older_layout_is_still_read(monkeypatch: pytest.MonkeyPatch):
    """Attempts written before outputs moved into the exit record (``outputs.json`` beside
    it, a local pid file of its own) still finish their workflow with their outputs."""
    from hpcflow.scheduler.local_pids import recorded_pid, status_from_pid_file

    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")
    wf = Workflow("old-layout")
    add = Step("add", PythonOPTemplate(ops.add), parameters={"a": 41})
    wf.add(add)
    wf.add(Step("after", PythonOPTemplate(ops.add), parameters={"a": add.outputs.parameters["c"]}))
    client, engine, attempt, deadline = _first_attempt_written(wf)
    unit = Path(attempt["dir"])
    record = rec.read_exit(unit) or {}
    rec.write_json_atomic(unit / rec.OUTPUTS_FILE, record.pop("outputs"))
    rec.write_json_atomic(unit / rec.EXIT_FILE, record)  # as the runtime wrote it before
    pid = recorded_pid(attempt["job_id"])
    old_pid_file = unit / "old.pid"
    old_pid_file.write_text(f"{pid} 0\n")
    assert recorded_pid(f"local:{old_pid_file}") == pid  # an older driver's pid file
    assert status_from_pid_file(f"local:{old_pid_file}").state.value == "UNKNOWN"  # not that process
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline + 30, client.store.workflow_status(wf.id)
        engine.tick()
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert wf.query_step(name="after")[0].outputs.parameters["c"].value == 43
