"""A fresh engine (cron's `hpcflow tick`) watches a quiet workflow without loading its nodes.

Quiet: every unfinished unit has an attempt in flight and nothing else can change the
workflow (hpcflow.engine.quiet). The fresh engine polls the attempts and loads the run only
when one of them leaves the queue, or when anyone wrote the workflow since it was marked.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from tests.helpers import count
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


def _held_fanout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Workflow, Path]:
    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")  # the test drives the engines itself
    release = tmp_path / "release"
    wf = Workflow("quiet")
    wf.add(Step("hold", PythonOPTemplate(ops.hold_until, slices=Slices(
        input_parameter=["tag"], output_parameter=["tag"])),
        parameters={"release": str(release), "log_dir": str(tmp_path), "tag": ["q0", "q1", "q2"]}))
    wf.submit()
    return wf, release


def _until_quiet(engine, store, wf_id: str) -> None:
    deadline = time.time() + 60
    while wf_id not in store.quiet_revisions():
        assert time.time() < deadline, "the workflow was never marked quiet"
        engine.tick()
        time.sleep(0.05)


def _no_node_loads(monkeypatch: pytest.MonkeyPatch, store) -> list[str]:
    loads: list[str] = []
    real = store.load_nodes

    def counted(wf_id: str, *args, **kwargs):
        loads.append(wf_id)
        return real(wf_id, *args, **kwargs)

    monkeypatch.setattr(store, "load_nodes", counted)
    return loads


def test_a_fresh_engine_polls_a_quiet_workflow_without_loading_it_then_finishes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    client = get_client()
    wf, release = _held_fanout(tmp_path, monkeypatch)
    _until_quiet(Engine(client.store, client.scheduler, client.settings), client.store, wf.id)
    loads = _no_node_loads(monkeypatch, client.store)

    fresh = Engine(client.store, client.scheduler, client.settings)  # as cron starts one
    report = fresh.tick()
    assert report.active_workflows == 1 and report.polled == 3  # watched, and polled
    assert loads == [] and fresh.runs == {}  # but its nodes were not read

    release.write_text("go\n")
    deadline = time.time() + 60
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed"):
        assert time.time() < deadline, "the workflow did not finish"
        Engine(client.store, client.scheduler, client.settings).tick()  # every tick fresh
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert loads  # a unit left the queue: the run was loaded to take its outcome
    slices = [s for s in wf.query_step(name="hold") if s.slice_index is not None]
    assert sorted(s.outputs.parameters["tag"].value for s in slices) == ["q0", "q1", "q2"]
    assert [count(tmp_path, f"q{i}-start") for i in range(3)] == [1, 1, 1]  # each ran once


def test_a_write_since_the_mark_makes_a_fresh_engine_load_the_workflow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    client = get_client()
    wf, release = _held_fanout(tmp_path, monkeypatch)
    _until_quiet(Engine(client.store, client.scheduler, client.settings), client.store, wf.id)
    with client.store.transaction():
        client.store.bump_revision(wf.id)  # what a retry, a cancel or another engine does
    assert wf.id not in client.store.quiet_revisions()
    loads = _no_node_loads(monkeypatch, client.store)
    fresh = Engine(client.store, client.scheduler, client.settings)
    fresh.tick()
    assert loads == [wf.id] and wf.id in fresh.runs
    release.write_text("go\n")
    deadline = time.time() + 60
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed"):
        assert time.time() < deadline, "the workflow did not finish"
        fresh.tick()
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Succeeded"


def test_a_job_lost_while_its_workflow_is_quiet_is_retried_by_fresh_engines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The grace period of a job gone without an exit record starts when it was first seen
    # gone, which is stored with the attempt: each fresh engine (a cron tick) loads it with
    # the quiet workflow's attempts instead of starting the grace period again.
    import os
    import signal

    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine
    from hpcflow.scheduler.local import recorded_pid

    client = get_client()
    wf, release = _held_fanout(tmp_path, monkeypatch)
    _until_quiet(Engine(client.store, client.scheduler, client.settings), client.store, wf.id)
    victim = next(a for a in client.store.attempts(wf.id) if a["node_path"].endswith("(1)"))
    deadline = time.time() + 30
    while count(tmp_path, "q1-start") == 0:  # killed once its OP has started, not before
        assert time.time() < deadline, "slice 1 never started"
        time.sleep(0.05)
    pid = recorded_pid(victim["job_id"])
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # no exit record
    deadline = time.time() + 30
    while os.path.exists(f"/proc/{pid}/stat") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]:
        assert time.time() < deadline, "the killed job did not end"
        time.sleep(0.05)

    Engine(client.store, client.scheduler, client.settings).tick()
    seen = {a["number"]: a for a in client.store.attempts(wf.id) if a["node_path"] == victim["node_path"]}
    assert list(seen) == [1] and seen[1]["gone_since"] is not None  # recorded, not lost yet
    assert wf.id in client.store.quiet_revisions()  # the next fresh engine finds it quiet
    time.sleep(client.settings.exit_record_grace_s + 0.2)
    Engine(client.store, client.scheduler, client.settings).tick()  # loads the time: lost
    numbers = [a["number"] for a in client.store.attempts(wf.id) if a["node_path"] == victim["node_path"]]
    assert numbers == [1, 2]

    release.write_text("go\n")
    deadline = time.time() + 60
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed"):
        assert time.time() < deadline, "the workflow did not finish"
        Engine(client.store, client.scheduler, client.settings).tick()
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert [count(tmp_path, f"q{i}-start") for i in range(3)] == [1, 2, 1]


def test_a_fresh_engine_records_finished_slices_without_loading_the_workflow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Slices that succeed while their siblings run are recorded from their own rows
    (hpcflow.engine.wake); the last ones load the run, which finishes the fan-out."""
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")
    client = get_client()
    releases = [str(tmp_path / f"release-{i}") for i in range(3)]
    wf = Workflow("quiet-wake")
    wf.add(Step("hold", PythonOPTemplate(ops.hold_until, slices=Slices(
        input_parameter=["release", "tag"], output_parameter=["tag"])),
        parameters={"release": releases, "log_dir": str(tmp_path), "tag": ["q0", "q1", "q2"]}))
    wf.submit()
    _until_quiet(Engine(client.store, client.scheduler, client.settings), client.store, wf.id)
    loads = _no_node_loads(monkeypatch, client.store)

    Path(releases[0]).write_text("go\n")
    deadline = time.time() + 60
    while client.store.attempts(wf.id, status=("succeeded",)) == []:
        assert time.time() < deadline, "the released slice was never recorded"
        fresh = Engine(client.store, client.scheduler, client.settings)  # as cron starts one
        fresh.tick()
        time.sleep(0.05)
    assert loads == [] and fresh.runs == {}  # recorded without loading the workflow
    assert wf.id in client.store.quiet_revisions()  # and still quiet, at its new revision
    done = [s for s in wf.query_step(name="hold") if s.phase == "Succeeded"]
    assert [(s.name, s.outputs.parameters["tag"].value) for s in done] == [("hold(0)", "q0")]
    assert client.store.workflow_status(wf.id) == "Running"

    queried = len(loads)  # query_step reads the nodes too
    for release in releases[1:]:
        Path(release).write_text("go\n")
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed"):
        assert time.time() < deadline, "the workflow did not finish"
        Engine(client.store, client.scheduler, client.settings).tick()
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert len(loads) > queried  # the last slices finish the fan-out: the run was loaded
    fan = [s for s in wf.query_step(name="hold") if s.slice_index is None][0]
    assert fan.outputs.parameters["tag"].value == ["q0", "q1", "q2"]  # stacked in order
    assert [count(tmp_path, f"q{i}-start") for i in range(3)] == [1, 1, 1]  # each ran once
