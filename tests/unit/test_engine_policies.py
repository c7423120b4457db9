"""Engine rules as pure logic: how a vanished job is classified, retry limits, node exclusion."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.engine.launch import PlannedAttempt, group_requests
from hpcflow.engine.model import FAILED, PENDING, Node
from hpcflow.engine.outcomes import outcome_from_exit, outcome_from_scheduler
from hpcflow.engine.run import WorkflowRun, excluded_hosts
from hpcflow.engine.settings import EngineSettings
from hpcflow.python import PythonOPTemplate
from hpcflow.scheduler.base import JobState, JobStatus
from hpcflow.scheduler.slurm.script import render_script
from tests.integration import wf_ops as ops


@pytest.mark.parametrize(
    "state,kind,words",
    [
        (JobState.TIMEOUT, "timeout", "time limit"),
        (JobState.OUT_OF_MEMORY, "fatal", "out of memory"),
        (JobState.NODE_FAIL, "system", "node failed"),
        (JobState.PREEMPTED, "system", "preempted"),
        (JobState.BOOT_FAIL, "system", "boot"),
        (JobState.CANCELLED, "fatal", "cancelled outside hpcflow"),
        (JobState.UNKNOWN, "system", "lost"),
        (JobState.COMPLETED, "system", "without writing an exit record"),
    ],
)
def test_vanished_jobs_are_classified(state: JobState, kind: str, words: str):
    got_kind, message = outcome_from_scheduler(JobStatus(state, node="n7"))
    assert got_kind == kind and words in message and "n7" in message


def test_a_command_that_cannot_start_is_fatal():
    kind, message = outcome_from_scheduler(JobStatus(JobState.FAILED, exit_code=127))
    assert kind == "fatal" and "could not start" in message


def test_exit_record_kinds():
    assert outcome_from_exit({"status": "succeeded"}) == (True, None, "")
    assert outcome_from_exit({"status": "failed", "kind": "load", "message": "m"}) == (False, "fatal", "m")
    assert outcome_from_exit({"status": "failed", "kind": "transient", "message": "t"})[1] == "transient"


def _run(tmp_path: Path, **template_options) -> tuple[WorkflowRun, Node]:
    wf = Workflow("pol")
    wf.add(Step("s", PythonOPTemplate(ops.add, **template_options), parameters={"a": 1}))
    row = {"id": "pol-1", "name": "pol", "spec": wf.to_spec(), "work_dir": str(tmp_path), "reuse": []}
    run = WorkflowRun(row, [])
    run.advance()
    node = run.nodes["s"]
    node.attempts, node.data["attempt"] = 1, 1
    return run, node


def test_retry_limits_by_kind(tmp_path: Path):
    run, node = _run(tmp_path, retry_on_transient_error=1)
    assert run.fail_unit(node, "transient", "t1") and node.phase == PENDING
    assert not run.fail_unit(node, "transient", "t2") and node.phase == FAILED
    run, node = _run(tmp_path, retry_on_transient_error=3)
    assert not run.fail_unit(node, "fatal", "f") and node.phase == FAILED
    run, node = _run(tmp_path, retry_on_transient_error=3)
    assert not run.fail_unit(node, "timeout", "late")  # timeouts are fatal by default
    run, node = _run(tmp_path, retry_on_transient_error=3, timeout_as_transient_error=True)
    assert run.fail_unit(node, "timeout", "late")
    run, node = _run(tmp_path)  # system failures (lost jobs, node failures) retry up to 3 times
    assert all(run.fail_unit(node, "system", "lost") for _ in range(3))
    assert not run.fail_unit(node, "system", "lost")


def test_a_node_that_fails_twice_is_excluded_from_the_retries(tmp_path: Path):
    run, node = _run(tmp_path)
    run.fail_unit(node, "system", "node failed", host="n1")
    assert excluded_hosts(node) == []
    run.fail_unit(node, "system", "node failed", host="n1")
    run.fail_unit(node, "transient", "the OP's own error", host="n2")  # not the node's fault
    assert excluded_hosts(node) == ["n1"]
    unit_dir = tmp_path / "u"
    unit_dir.mkdir()
    settings = EngineSettings(work_root=tmp_path)
    [(request, items)] = group_requests([PlannedAttempt(run, node, 3, str(unit_dir))], settings)
    assert request.resources.exclude_nodes == ("n1",)
    assert "#SBATCH --exclude=n1\n" in render_script(request, tasks_file="t", is_array=False)


def test_the_engine_looks_for_the_same_user_site_file_as_the_loader():
    from hpcflow.engine.site_adapter import _USER_SITE
    from hpcflow.site.loader import ENV_VAR, USER_SITE

    assert _USER_SITE == USER_SITE and ENV_VAR == "HPCFLOW_SITE"
