"""Between scheduler queries the engine looks for the exit records of the few jobs it
watches (and of chained jobs), so that a workflow's last step is seen to end when it writes
its record, not at the next due ``squeue`` (real cluster; the poll clock is set so that no
query is due, then one tick is counted)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.engine.observe import LOOK_AHEAD_MAX
from hpcflow.python import PythonOPTemplate, Slices
from hpcflow.runtime import records as rec
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.slurm


def _engine(monkeypatch: pytest.MonkeyPatch, wf: Workflow):  # type: ignore[no-untyped-def]
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")  # this test drives the engine itself
    wf.submit()
    client = get_client()
    return client, Engine(client.store, client.scheduler, client.settings)


def _tick_until_record(engine, node_suffix: str) -> None:  # type: ignore[no-untyped-def]
    """Tick until the attempt of the node ending in ``node_suffix`` is submitted, then wait,
    without ticking, until its job has written its exit record."""
    deadline = time.time() + 120
    att = None
    while att is None or att.job_id is None:
        assert time.time() < deadline, "the job was never submitted"
        engine.tick()
        att = next((a for a in engine.inflight.values() if a.node_path.endswith(node_suffix)), None)
        time.sleep(0.1)
    while not rec.has_exit(att.dir_text):
        assert time.time() < deadline, "the job never wrote its exit record"
        time.sleep(0.1)


def _no_query_due(engine, since_last_poll: float) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    engine._poll_clock.last_poll = now - since_last_poll
    engine._poll_clock.last_change = now - 1000.0  # long quiet: the next query is poll_max_s away


def test_a_lone_job_is_seen_to_end_without_a_query(slurm_home: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hpcflow.scheduler.slurm import backend

    wf = Workflow("look-lone")
    wf.add(Step("nap", PythonOPTemplate(ops.sleepy), parameters={"seconds": 1, "log_dir": str(tmp_path)}))
    client, engine = _engine(monkeypatch, wf)
    _tick_until_record(engine, "nap")
    _no_query_due(engine, since_last_poll=0.0)
    before = backend.COMMAND_COUNTS["squeue"]
    report = engine.tick()
    assert backend.COMMAND_COUNTS["squeue"] == before  # no query was due, none was made
    assert report.finished_units == 1
    assert client.store.workflow_status(wf.id) == "Succeeded"


# 3 slices: every job in flight is watched; LOOK_AHEAD_MAX + 4: only the chained reduce is
@pytest.mark.parametrize("width", [3, LOOK_AHEAD_MAX + 4])
def test_a_chained_reduce_ending_brings_the_query_forward(slurm_home: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    from hpcflow.scheduler.slurm import backend

    wf = Workflow("look-chain")
    xs = [float(i + 1) for i in range(width)]
    sq = Step("sq", PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
              parameters={"x": xs})
    tot = Step("tot", PythonOPTemplate(ops.total), parameters={"values": sq.outputs.parameters["y"]})
    wf.add(sq)
    wf.add(tot)
    client, engine = _engine(monkeypatch, wf)
    _tick_until_record(engine, "tot")  # queued behind the array with afterok, so it ran after it
    assert client.store.workflow_status(wf.id) != "Succeeded"
    _no_query_due(engine, since_last_poll=1.5)  # a forced query may come 1 s after the last
    before = backend.COMMAND_COUNTS["squeue"]
    engine.tick()
    assert backend.COMMAND_COUNTS["squeue"] == before + 1  # one query, brought forward
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert wf.query_step(name="tot")[0].outputs.parameters["sum"].value == sum(x * x for x in xs)
