"""Fault tolerance, all enforced: retries, fatal errors, timeouts, continue_on_*, parallelism."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from tests.helpers import count
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")



@pytest.fixture
def log(tmp_path: Path) -> Path:
    d = tmp_path / "log"
    d.mkdir()
    return d


def test_transient_errors_are_retried_up_to_the_limit(log: Path):
    wf = Workflow("retry")
    wf.add(Step("flaky", PythonOPTemplate(ops.flaky, retry_on_transient_error=3),
                parameters={"log_dir": str(log), "fail_times": 2}))
    wf.submit()
    assert wf.wait(timeout=60) == "Succeeded"
    step = wf.query_step(name="flaky")[0]
    assert step.outputs.parameters["attempt"].value == 3 and step.attempts == 3
    assert count(log, "flaky") == 3


def test_transient_errors_beyond_the_limit_fail(log: Path):
    wf = Workflow("retry-out")
    wf.add(Step("flaky", PythonOPTemplate(ops.flaky, retry_on_transient_error=1),
                parameters={"log_dir": str(log), "fail_times": 5}))
    wf.submit()
    assert wf.wait(timeout=60) == "Failed"
    assert count(log, "flaky") == 2
    assert "transient failure number 2" in wf.query_step(name="flaky")[0].message


def test_fatal_error_is_never_retried(log: Path):
    wf = Workflow("fatal")
    wf.add(Step("fatal", PythonOPTemplate(ops.fatal, retry_on_transient_error=5, retry_on_failure=5),
                parameters={"log_dir": str(log)}))
    wf.submit()
    assert wf.wait(timeout=60) == "Failed"
    assert count(log, "fatal") == 1
    assert "FatalError: this cannot work" in wf.query(  )["message"]


def test_timeout_is_fatal_by_default(log: Path):
    wf = Workflow("timeout")
    wf.add(Step("sleepy", PythonOPTemplate(ops.sleepy, timeout=1, retry_on_transient_error=2),
                parameters={"seconds": 30, "log_dir": str(log)}))
    wf.submit()
    assert wf.wait(timeout=60) == "Failed"
    assert count(log, "sleepy-start") == 1 and count(log, "sleepy-end") == 0
    assert "timeout" in wf.query_step(name="sleepy")[0].message


def test_timeout_as_transient_error_is_retried(log: Path):
    wf = Workflow("timeout-retry")
    wf.add(Step("sleepy", PythonOPTemplate(ops.sleepy, timeout=1, retry_on_transient_error=2,
                                           timeout_as_transient_error=True),
                parameters={"seconds": 30, "log_dir": str(log)}))
    wf.submit()
    assert wf.wait(timeout=60) == "Succeeded"
    assert count(log, "sleepy-start") == 2 and count(log, "sleepy-end") == 1


def test_continue_on_failed_lets_the_workflow_go_on(log: Path):
    wf = Workflow("cont")
    bad = Step("bad", PythonOPTemplate(ops.fatal), parameters={"log_dir": str(log)}, continue_on_failed=True)
    after = Step("after", PythonOPTemplate(ops.add), parameters={"a": 1})
    wf.add(bad)
    wf.add(after)
    wf.submit()
    assert wf.wait(timeout=60) == "Succeeded"
    phases = {s.name: s.phase for s in wf.query_step()}
    assert phases["bad"] == "Failed" and phases["after"] == "Succeeded"


def _sliced(log: Path, bad: list[int], **step_opts) -> Workflow:
    wf = Workflow("ratio")
    wf.add(Step("work", PythonOPTemplate(ops.fail_if, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
                parameters={"x": list(range(10)), "bad": bad, "log_dir": str(log)}, **step_opts))
    wf.submit()
    return wf


def test_continue_on_success_ratio_met_keeps_successful_outputs(log: Path):
    wf = _sliced(log, [2, 7], continue_on_success_ratio=0.8)
    assert wf.wait(timeout=60) == "Succeeded"
    fan = wf.query_step(name="work", type="FanOut")[0]
    assert fan.outputs.parameters["y"].value == [x * 10 for x in range(10) if x not in (2, 7)]


def test_continue_on_success_ratio_not_met_fails(log: Path):
    wf = _sliced(log, [1, 2, 3], continue_on_success_ratio=0.8)
    assert wf.wait(timeout=60) == "Failed"
    assert "3 of 10 failed" in wf.query_step(name="work", type="FanOut")[0].message


def test_continue_on_num_success(log: Path):
    ok = _sliced(log, [0, 1, 2, 3], continue_on_num_success=6)
    assert ok.wait(timeout=60) == "Succeeded"
    bad = _sliced(log, [0, 1, 2, 3, 4], continue_on_num_success=6)
    assert bad.wait(timeout=60) == "Failed"


def test_parallelism_limits_concurrent_slices(log: Path, monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import reset_clients

    monkeypatch.setenv("HPCFLOW_LOCAL_WORKERS", "4")
    reset_clients()
    wf = Workflow("par")
    wf.add(Step("c", PythonOPTemplate(ops.concurrency, slices=Slices(input_parameter=["x"], output_parameter=["peak"])),
                parameters={"x": list(range(6)), "log_dir": str(log), "hold": 0.6}, parallelism=2))
    wf.submit()
    assert wf.wait(timeout=60) == "Succeeded"
    peaks = wf.query_step(name="c", type="FanOut")[0].outputs.parameters["peak"].value
    assert max(peaks) <= 2
    # the control: without the limit, more than two run at once on the same machine
    free = Workflow("par-free")
    free.add(Step("c", PythonOPTemplate(ops.concurrency, slices=Slices(input_parameter=["x"], output_parameter=["peak"])),
                  parameters={"x": list(range(6)), "log_dir": str(log), "hold": 0.6}))
    free.submit()
    assert free.wait(timeout=60) == "Succeeded"
    assert max(free.query_step(name="c", type="FanOut")[0].outputs.parameters["peak"].value) > 2
