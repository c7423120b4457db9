"""Restart: query_step, reuse_step with modified outputs, `hpcflow retry`, resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from tests.helpers import AcceptedThenUnreachable, Crash, CrashAfterSubmit, count
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")
REPO = Path(__file__).resolve().parents[2]



def chain(log: Path, name: str = "chain") -> Workflow:
    wf = Workflow(name)
    a = Step("a", PythonOPTemplate(ops.counted_add), parameters={"a": 1, "log_dir": str(log), "tag": "a"}, key="step-a")
    b = Step("b", PythonOPTemplate(ops.counted_add),
             parameters={"a": a.outputs.parameters["c"], "log_dir": str(log), "tag": "b"}, key="step-b")
    wf.add(a)
    wf.add(b)
    return wf


def test_reuse_step_skips_matching_keys_and_uses_modified_outputs(tmp_path: Path):
    log = tmp_path
    first = chain(log)
    first.submit()
    assert first.wait(timeout=60) == "Succeeded"
    assert first.query_keys_of_steps() == ["step-a", "step-b"]
    (a,) = first.query_step(key="step-a")
    assert a.phase == "Succeeded" and a.outputs.parameters["c"].value == 2
    a.modify_output_parameter("c", 100)
    second = chain(log, "chain2")
    second.submit(reuse_step=[a])
    assert second.wait(timeout=60) == "Succeeded"
    assert count(log, "a") == 1  # not run again
    assert count(log, "b") == 2
    assert second.query_step(key="step-b")[0].outputs.parameters["c"].value == 101
    assert second.query_step(key="step-a")[0].phase == "Succeeded"


def test_reused_slices_count_as_successes_for_success_ratio(tmp_path: Path):
    def build(name: str, bad: list[int]) -> Workflow:
        wf = Workflow(name)
        wf.add(Step("work", PythonOPTemplate(ops.fail_if, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
                    parameters={"x": list(range(4)), "bad": bad, "log_dir": str(tmp_path)},
                    key="work-{{item}}", continue_on_success_ratio=0.75))
        return wf

    first = build("ratio1", [])
    first.submit()
    assert first.wait(timeout=60) == "Succeeded"
    reused = first.query_step(key=["work-0", "work-1"])
    second = build("ratio2", [0, 1, 2])  # 0 and 1 would fail, but they are reused
    second.submit(reuse_step=reused)
    assert second.wait(timeout=60) == "Succeeded"
    assert count(tmp_path, "slice-0") == 1 and count(tmp_path, "slice-2") == 2


def test_hpcflow_retry_reruns_only_failed_steps(tmp_path: Path):
    from typer.testing import CliRunner

    from hpcflow.cli.main import app

    log = tmp_path
    wf = Workflow("retryme")
    ok = Step("ok", PythonOPTemplate(ops.counted_add), parameters={"a": 1, "log_dir": str(log), "tag": "ok"})
    flaky = Step("flaky", PythonOPTemplate(ops.flaky), parameters={"log_dir": str(log), "fail_times": 1})
    wf.add(ok)
    wf.add(flaky)
    wf.submit()
    assert wf.wait(timeout=60) == "Failed"
    result = CliRunner().invoke(app, ["retry", wf.id])
    assert result.exit_code == 0, result.output
    assert wf.query_status() == "Succeeded"
    assert count(log, "ok") == 1 and count(log, "flaky") == 2


def test_killing_the_driver_resumes_without_rerunning_finished_steps(tmp_path: Path, hpcflow_home: Path):
    log = tmp_path / "log"
    log.mkdir()
    script = tmp_path / "drive.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from hpcflow import Step, Workflow
        from hpcflow.python import PythonOPTemplate
        from tests.integration import wf_ops as ops
        wf = Workflow("resume")
        prev = None
        for i in range(6):
            s = Step(f"s{{i}}", PythonOPTemplate(ops.nap),
                     parameters={{"seconds": 0.4, "log_dir": {str(log)!r}, "tag": f"s{{i}}"}})
            wf.add(s)
        wf.submit()
        print(wf.id, flush=True)
        wf.wait()
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    wf_id = proc.stdout.readline().strip()
    deadline = time.time() + 30
    while count(log, "s1-end") < 1 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert count(log, "s5-start") == 0  # killed mid-way
    resumed = Workflow("resume", id=wf_id)
    assert resumed.wait(timeout=60) == "Succeeded"
    # Steps that finished before the kill never ran again; every step finished exactly once
    # (a step running during the kill keeps running detached and is picked up, not rerun).
    for i in range(6):
        assert count(log, f"s{i}-end") == 1, i
        assert count(log, f"s{i}-start") == 1, i
    assert len([s for s in resumed.query_step(type="Pod") if s.phase == "Succeeded"]) == 6


def test_modify_output_artifact_feeds_the_reused_value_downstream(tmp_path: Path):
    from hpcflow import upload_artifact

    def build(name: str) -> Workflow:
        wf = Workflow(name)
        w = Step("w", PythonOPTemplate(ops.write_file), parameters={"name": "o.txt", "content": "original"}, key="kw")
        r = Step("r", PythonOPTemplate(ops.read_text), artifacts={"f": w.outputs.artifacts["out"]}, key="kr")
        wf.add(w)
        wf.add(r)
        return wf

    first = build("art1")
    first.submit()
    assert first.wait(timeout=60) == "Succeeded"
    (w,) = first.query_step(key="kw")
    replacement = tmp_path / "replacement.txt"
    replacement.write_text("replaced")
    w.modify_output_artifact("out", upload_artifact(replacement))
    second = build("art2")
    second.submit(reuse_step=[w])
    assert second.wait(timeout=60) == "Succeeded"
    assert second.query_step(key="kr")[0].outputs.parameters["text"].value == "replaced"


def test_retry_after_cancel_runs_every_slice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Slices that never started before a cancel are run by `hpcflow retry`, none dropped."""
    from typer.testing import CliRunner

    from hpcflow.cli.main import app
    from hpcflow.client import reset_clients

    site = tmp_path / "capped.toml"  # one job in flight at a time: the rest never start
    site.write_text('name = "capped"\nscheduler = "local"\nmax_queued_jobs = 1\n')
    monkeypatch.setenv("HPCFLOW_SITE", str(site))
    reset_clients()
    log = tmp_path
    wf = Workflow("cancel-retry")
    wf.add(Step("nap", PythonOPTemplate(ops.nap, slices=Slices(input_parameter=["tag"], output_parameter=["done"]),
                                        ), parameters={"seconds": 2, "log_dir": str(log), "tag": [f"t{i}" for i in range(4)]},
                ))
    wf.submit()
    deadline = time.time() + 30
    while not (log / "t0-start").exists() and time.time() < deadline:
        time.sleep(0.02)
    assert CliRunner().invoke(app, ["cancel", wf.id]).exit_code == 0
    never_started = [s for s in wf.query_step(type="Pod") if s.attempts == 0]
    assert never_started  # the cap kept some slices from ever being submitted
    result = CliRunner().invoke(app, ["retry", wf.id])
    assert result.exit_code == 0, result.output
    assert wf.query_status() == "Succeeded"
    fan = wf.query_step(name="nap", type="FanOut")[0]
    assert fan.outputs.parameters["done"].value == [True, True, True, True]
    for i in range(1, 4):
        assert count(log, f"t{i}-end") == 1


def test_crash_right_after_a_local_submit_adopts_instead_of_running_twice(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")  # this test drives the engine itself
    client = get_client()
    wf = Workflow("local-adopt")
    wf.add(Step("nap", PythonOPTemplate(ops.nap, slices=Slices(input_parameter=["tag"], output_parameter=["done"])),
                parameters={"seconds": 0.3, "log_dir": str(tmp_path), "tag": ["a0", "a1"]}))
    wf.submit()


    with pytest.raises(Crash):
        Engine(client.store, CrashAfterSubmit(client.scheduler), client.settings, only={wf.id}).tick()
    assert all(a["job_id"] is None for a in client.store.attempts(wf.id))
    engine = Engine(client.store, client.scheduler, client.settings, only={wf.id})
    deadline = time.time() + 60
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed") and time.time() < deadline:
        engine.tick()
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert count(tmp_path, "a0-start") == 1 and count(tmp_path, "a1-start") == 1


def test_an_unanswered_adoption_waits_instead_of_submitting_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    """sbatch timed out after the controller took the job, then squeue fails for 5 ticks:
    the attempts stay `submitting` until the scheduler answers, then the job is adopted."""
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")  # this test drives the engine itself
    client = get_client()
    wf = Workflow("adopt-later")
    wf.add(Step("nap", PythonOPTemplate(ops.nap, slices=Slices(input_parameter=["tag"], output_parameter=["done"])),
                parameters={"seconds": 0.2, "log_dir": str(tmp_path), "tag": ["b0", "b1", "b2"]}))
    wf.submit()
    flaky = AcceptedThenUnreachable(client.scheduler, down_calls=5)
    engine = Engine(client.store, flaky, client.settings, only={wf.id})
    engine.tick()  # submits; the scheduler reports a timeout
    for _ in range(5):
        engine.tick()  # every lookup fails
        assert {a["status"] for a in client.store.attempts(wf.id)} == {"submitting"}
    assert flaky.failed_lookups == 5
    deadline = time.time() + 60
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed") and time.time() < deadline:
        engine.tick()
        time.sleep(0.05)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert flaky.submissions == 1, "an attempt that may have been submitted was submitted again"
    for tag in ("b0", "b1", "b2"):
        assert count(tmp_path, f"{tag}-start") == 1
