"""Early launches on the real Slurm cluster: chains queued behind their producers with
``--dependency=afterok``, re-chained when a producer is retried, omitted when it fails for
good; fused chains run in one job."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.client import get_client
from hpcflow.python import PythonOPTemplate, Slices
from hpcflow.scheduler.slurm import backend
from tests.integration import chain_ops as ops

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site-configs" / "slurm-test.toml"
pytestmark = pytest.mark.slurm



@pytest.fixture
def log(tmp_path: Path) -> Path:
    d = tmp_path / "log"
    d.mkdir()
    return d


def submit_undriven(wf: Workflow, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")
    try:
        return wf.submit()
    finally:
        monkeypatch.delenv("HPCFLOW_SUBMIT_ONLY")


def dependency(job_id: str) -> str:
    out = subprocess.run(["scontrol", "show", "job", job_id.split("_")[0]], capture_output=True,
                         text=True).stdout
    found = re.search(r"Dependency=(\S+)", out)
    return found.group(1) if found else ""


def by_step(wf_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in get_client().store.attempts(wf_id):
        out.setdefault(a["node_path"], []).append(a["status"])
    return out


def nodes(wf_id: str) -> dict[str, dict]:
    return {n["path"]: n for n in get_client().store.load_nodes(wf_id)}


def test_a_chain_is_submitted_in_one_tick_with_afterok(slurm_home: Path, log: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    wf = ops.chain("s-chain", 5, log, first_sleep=6)
    wf_id = submit_undriven(wf, monkeypatch)
    client = get_client()
    backend.reset_command_counts()
    report = client.engine({wf_id}).tick()
    assert report.launched == 5 and backend.COMMAND_COUNTS["sbatch"] == 5
    jobs = {a["node_path"]: a["job_id"] for a in client.store.attempts(wf_id)}
    assert all(jobs.values())
    for i in range(1, 5):  # each queued behind the one before, while s0 still sleeps
        assert dependency(jobs[f"s{i}"]).startswith(f"afterok:{jobs[f's{i - 1}']}"), i
    assert client.wait(wf_id, timeout=300, interval=1.0) == "Succeeded"
    assert wf.query_step(name="s4")[0].outputs.parameters["y"].value == 5
    assert [ops.runs(log, f"s{i}") for i in range(5)] == [1] * 5
    assert nodes(wf_id)["s4"]["inputs"]["parameters"]["x"] == 4  # settled once s3 succeeded


def test_a_retried_producer_rechains_its_dependants(slurm_home: Path, log: Path):
    (log / "fail-s1").touch()
    wf = ops.chain("s-rechain", 4, log)
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded"
    assert wf.query_step(name="s3")[0].outputs.parameters["y"].value == 4
    assert [ops.runs(log, f"s{i}") for i in range(4)] == [1, 2, 1, 1]
    steps = by_step(wf.id)
    assert steps["s0"] == ["succeeded"] and steps["s1"] == ["failed", "succeeded"]
    # Slurm removed (or the engine cancelled) the first jobs of s2 and s3: withdrawn, not failed.
    assert steps["s2"] == steps["s3"] == ["cancelled", "succeeded"]
    n = nodes(wf.id)
    assert n["s1"]["retries"] == 1 and n["s2"]["retries"] == 0 and n["s3"]["retries"] == 0
    assert n["s2"]["system_retries"] == 0 and n["s3"]["system_retries"] == 0


def test_a_producer_that_fails_for_good_omits_its_dependants(slurm_home: Path, log: Path):
    (log / "fatal-s1").touch()
    wf = ops.chain("s-fatal", 4, log)
    wf.submit()
    assert wf.wait(timeout=300) == "Failed"
    n = nodes(wf.id)
    assert n["s0"]["phase"] == "Succeeded" and n["s1"]["phase"] == "Failed"
    assert n["s2"]["phase"] == n["s3"]["phase"] == "Omitted"
    assert [ops.runs(log, f"s{i}") for i in range(4)] == [1, 1, 0, 0]
    ids = [a["job_id"] for a in get_client().store.attempts(wf.id) if a["node_path"] in ("s2", "s3")]
    queue = subprocess.run(["squeue", "--noheader", "-o", "%i %T", "-j", ",".join(ids)],
                           capture_output=True, text=True).stdout
    assert "PENDING" not in queue and "RUNNING" not in queue  # nothing left waiting forever


def test_a_reduce_is_queued_behind_the_whole_array(slurm_home: Path, log: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    from hpcflow.engine import chain_jobs

    monkeypatch.setattr(chain_jobs, "MAX_LISTED_TASKS", 4)  # 8 tasks: named as the array
    wf = Workflow("s-reduce")
    fan = Step("fan", PythonOPTemplate(ops.make_file, slices=Slices(
        "{{item}}", input_parameter=["x"], output_artifact=["out"])),
        parameters={"x": list(range(8)), "log_dir": str(log), "tag": "fan"}, with_param=list(range(8)))
    wf.add(fan)
    wf.add(Step("reduce", PythonOPTemplate(ops.read_files),
                artifacts={"files": fan.outputs.artifacts["out"]},
                parameters={"log_dir": str(log), "tag": "reduce"}))
    wf_id = submit_undriven(wf, monkeypatch)
    client = get_client()
    sbatch: list[list[str]] = []
    transport = client.scheduler.transport
    run = transport.run
    monkeypatch.setattr(transport, "run", lambda argv, **kw: (
        sbatch.append(list(argv)) if argv[0] == "sbatch" else None, run(argv, **kw))[1])
    client.engine({wf_id}).tick()
    assert len(sbatch) == 2  # the array and the reduce, in one tick
    jobs = {a["node_path"]: a["job_id"] for a in client.store.attempts(wf_id)}
    array = jobs["fan(0)"].split("_")[0]
    assert f"--dependency=afterok:{array}" in sbatch[1] and "--kill-on-invalid-dep=yes" in sbatch[1]
    assert not any(a.startswith("--dependency") for a in sbatch[0])
    assert client.wait(wf_id, timeout=300, interval=1.0) == "Succeeded"
    assert wf.query_step(name="reduce")[0].outputs.parameters["total"].value == sum(range(8))
    assert ops.runs(log, "fan") == 8 and ops.runs(log, "reduce") == 1


def test_a_fused_chain_is_one_job_and_reruns_from_the_failed_step(slurm_home: Path, log: Path):
    (log / "fail-s2").touch()
    backend.reset_command_counts()
    wf = ops.chain("s-fused", 5, log, fuse=True)
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded"
    assert wf.query_step(name="s4")[0].outputs.parameters["y"].value == 5
    assert backend.COMMAND_COUNTS["sbatch"] == 2  # the chain, then the rerun from s2
    assert [ops.runs(log, f"s{i}") for i in range(5)] == [1, 1, 2, 1, 1]
    steps = by_step(wf.id)
    assert steps["s0"] == steps["s1"] == ["succeeded"]
    assert steps["s2"] == ["failed", "succeeded"]
    assert steps["s3"] == steps["s4"] == ["cancelled", "succeeded"]


def test_a_fused_script_runs_in_one_slurm_job(slurm_home: Path, log: Path, tmp_path: Path):
    script = tmp_path / "wf.py"
    script.write_text(textwrap.dedent(f"""
        from tests.integration import chain_ops as ops

        wf = ops.chain("s-fused-script", 6, {str(log)!r}, fuse=True)
        wf.submit()
        print(wf.wait(timeout=300), wf.query_step(name="s5")[0].outputs.parameters["y"].value, wf.id)
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("HPCFLOW_NO_ATEXIT", None)
    started = time.time()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    status, value, wf_id = proc.stdout.split()
    assert (status, value) == ("Succeeded", "6")
    jobs = {a["job_id"] for a in get_client().store.attempts(wf_id)}
    assert len(jobs) == 1
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobName", "-S",
                          time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started - 1))],
                         capture_output=True, text=True).stdout
    assert sum(1 for line in out.splitlines() if "s-fused-script" in line) <= 1


def test_dag_tasks_are_queued_behind_running_ones(slurm_home: Path, log: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    from hpcflow import DAG, Task

    dag = DAG("diamond")
    a = Task("a", PythonOPTemplate(ops.step), parameters={"x": 1, "log_dir": str(log), "tag": "a"})
    b = Task("b", PythonOPTemplate(ops.step), parameters={"x": a.outputs.parameters["y"],
                                                          "log_dir": str(log), "tag": "b"})
    c = Task("c", PythonOPTemplate(ops.step), parameters={"x": b.outputs.parameters["y"],
                                                          "log_dir": str(log), "tag": "c"})
    d = Task("d", PythonOPTemplate(ops.total), parameters={
        "ys": [b.outputs.parameters["y"], c.outputs.parameters["y"]], "log_dir": str(log), "tag": "d"})
    for t in (a, b, c, d):
        dag.add(t)
    wf = Workflow("s-dag", dag=dag)
    wf_id = submit_undriven(wf, monkeypatch)
    client = get_client()
    backend.reset_command_counts()
    client.engine({wf_id}).tick()
    assert backend.COMMAND_COUNTS["sbatch"] == 3  # a, b behind a, c behind b; d waits (a list)
    assert client.wait(wf_id, timeout=300, interval=1.0) == "Succeeded"
    assert wf.query_step(name="d")[0].outputs.parameters["total"].value == 3 + 4
    assert [ops.runs(log, t) for t in "abcd"] == [1, 1, 1, 1]


def test_a_fan_out_over_a_running_fan_out_and_its_reduce_queue_at_once(slurm_home: Path, log: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    wf = ops.fan_fan_reduce("s-fanfan", 6, log)
    wf_id = submit_undriven(wf, monkeypatch)
    client = get_client()
    backend.reset_command_counts()
    client.engine({wf_id}).tick()
    assert backend.COMMAND_COUNTS["sbatch"] == 3  # array a, array b behind it, the reduce
    jobs = {a["node_path"]: a["job_id"] for a in client.store.attempts(wf_id)}
    assert len({jobs[f"b({i})"].split("_")[0] for i in range(6)}) == 1  # b is one array
    assert client.wait(wf_id, timeout=300, interval=1.0) == "Succeeded"
    assert wf.query_step(name="total")[0].outputs.parameters["total"].value == sum(i + 2 for i in range(6))
    assert (ops.runs(log, "a"), ops.runs(log, "b"), ops.runs(log, "total")) == (6, 6, 1)


def test_a_dependant_removed_by_slurm_after_its_producer_succeeded_is_planned_again(
        slurm_home: Path, log: Path):
    wf = Workflow("s-removed")
    a = Step("a", PythonOPTemplate(ops.step_then_exit_nonzero),
             parameters={"x": 1, "log_dir": str(log), "tag": "a"})
    wf.add(a)
    wf.add(Step("b", PythonOPTemplate(ops.step), parameters={
        "x": a.outputs.parameters["y"], "log_dir": str(log), "tag": "b"}))
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded"
    assert wf.query_step(name="b")[0].outputs.parameters["y"].value == 3
    steps = by_step(wf.id)
    assert steps["a"] == ["succeeded"]
    assert steps["b"] == ["cancelled", "succeeded"]  # DependencyNeverSatisfied: never ran
    assert nodes(wf.id)["b"]["retries"] == 0 and ops.runs(log, "b") == 1


@pytest.mark.parametrize("fuse", [False, True], ids=["chained", "fused"])
def test_a_chain_survives_an_engine_crash_right_after_sbatch(slurm_home: Path, log: Path,
                                                            monkeypatch: pytest.MonkeyPatch, fuse: bool):
    from hpcflow.engine.engine import Engine
    from tests.helpers import Crash, CrashAfterSubmit

    wf = ops.chain("s-crash", 4, log, fuse=fuse)
    wf_id = submit_undriven(wf, monkeypatch)
    client = get_client()
    with pytest.raises(Crash):  # the first job went through; nothing recorded its id
        Engine(client.store, CrashAfterSubmit(client.scheduler), client.settings, only={wf_id}).tick()
    assert all(a["status"] == "submitting" and a["job_id"] is None for a in client.store.attempts(wf_id))
    engine = Engine(client.store, client.scheduler, client.settings, only={wf_id})
    deadline = time.time() + 300
    while client.store.workflow_status(wf_id) not in ("Succeeded", "Failed") and time.time() < deadline:
        engine.tick()
        time.sleep(0.5)
    assert client.store.workflow_status(wf_id) == "Succeeded"
    assert wf.query_step(name="s3")[0].outputs.parameters["y"].value == 4
    assert [ops.runs(log, f"s{i}") for i in range(4)] == [1, 1, 1, 1]  # adopted, never run twice
    jobs = {a["job_id"] for a in client.store.attempts(wf_id)}
    assert len(jobs) == (1 if fuse else 4)
