"""Whole workflows on the real Slurm test cluster, driven by the engine, the daemon or cron."""

from __future__ import annotations

import json
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
from tests.helpers import Crash, CrashAfterSubmit, count
from tests.integration import wf_ops as ops

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site-configs" / "slurm-test.toml"
pytestmark = pytest.mark.slurm



def env_for(home: Path) -> dict[str, str]:
    return dict(os.environ, HPCFLOW_HOME=str(home), HPCFLOW_SITE=str(SITE), PYTHONPATH=str(REPO))



def slurm_ids(wf: Workflow) -> list[str]:
    return [a["job_id"] for a in wf._client.store.attempts(wf.id)]


def sacct_states(job_ids: list[str], wait: float = 30.0) -> dict[str, str]:
    """Final Slurm states of jobs from accounting (which lags the controller by seconds)."""
    base = sorted({j.split("_")[0] for j in job_ids})
    deadline = time.time() + wait
    while True:
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(base)],
                             capture_output=True, text=True).stdout
        states = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
        final = states and all(s.split()[0] not in ("PENDING", "RUNNING", "COMPLETING") for s in states.values())
        if final and set(job_ids) <= set(states) or time.time() > deadline:
            return states
        time.sleep(1)


def test_eos_example_runs_on_slurm_with_an_array(slurm_home: Path):
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "eos.py"), "--points", "8"],
                          capture_output=True, text=True, env=env_for(slurm_home), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bulk modulus" in proc.stdout
    wf_id = proc.stdout.split()[1]
    from hpcflow.store import Store

    attempts = Store(slurm_home / "hpcflow.db").attempts(wf_id)
    energy = [a["job_id"] for a in attempts if a["node_path"].startswith("energy(")]
    assert len(energy) == 8
    assert len({j.split("_")[0] for j in energy}) == 1  # one array job for the 8 slices
    assert all("_" in j for j in energy)


def test_concurrent_learning_example_runs_on_slurm(slurm_home: Path):
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "concurrent_learning.py"),
                           "--max-iter", "2", "--ensemble", "2"],
                          capture_output=True, text=True, env=env_for(slurm_home), timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "iterations 2" in proc.stdout


def test_transient_errors_are_retried_on_slurm(slurm_home: Path, tmp_path: Path):
    wf = Workflow("s-retry")
    wf.add(Step("flaky", PythonOPTemplate(ops.flaky, retry_on_transient_error=2),
                parameters={"log_dir": str(tmp_path), "fail_times": 1}))
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded"
    assert count(tmp_path, "flaky") == 2
    assert len(set(slurm_ids(wf))) == 2  # a new Slurm job for the retry


def test_success_ratio_over_an_array_with_failing_indices(slurm_home: Path, tmp_path: Path):
    wf = Workflow("s-ratio")
    wf.add(Step("work", PythonOPTemplate(ops.fail_if, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
                parameters={"x": list(range(8)), "bad": [3, 5], "log_dir": str(tmp_path)},
                continue_on_success_ratio=0.7))
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded"
    fan = wf.query_step(name="work", type="FanOut")[0]
    assert fan.outputs.parameters["y"].value == [x * 10 for x in range(8) if x not in (3, 5)]
    states = sacct_states(slurm_ids(wf))
    assert any(s.startswith("FAILED") for s in states.values())


def test_hostile_parameter_reaches_the_op_unchanged(slurm_home: Path, tmp_path: Path):
    marker = tmp_path / "pwned"
    hostile = f"a 'b' \"c\" $(touch {marker}) `touch {marker}` ; rm -rf / \n line2 \\ $HOME ünï"
    wf = Workflow("s-hostile")
    wf.add(Step("echo", PythonOPTemplate(ops.Duplicate), parameters={"msg": hostile, "times": 1}))
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded"
    assert wf.query_step(name="echo")[0].outputs.parameters["msgs"].value == [hostile]
    assert not marker.exists()


def test_reuse_step_restart_on_slurm(slurm_home: Path, tmp_path: Path):
    def build(name: str) -> Workflow:
        wf = Workflow(name)
        a = Step("a", PythonOPTemplate(ops.counted_add), parameters={"a": 1, "log_dir": str(tmp_path), "tag": "a"},
                 key="ka")
        b = Step("b", PythonOPTemplate(ops.counted_add),
                 parameters={"a": a.outputs.parameters["c"], "log_dir": str(tmp_path), "tag": "b"}, key="kb")
        wf.add(a)
        wf.add(b)
        return wf

    first = build("s-reuse1")
    first.submit()
    assert first.wait(timeout=300) == "Succeeded"
    second = build("s-reuse2")
    second.submit(reuse_step=first.query_step(key="ka"))
    assert second.wait(timeout=300) == "Succeeded"
    assert count(tmp_path, "a") == 1 and count(tmp_path, "b") == 2
    assert len(slurm_ids(second)) == 1  # only b was submitted


def test_step_time_limit_enforced_by_slurm_is_reported_as_timeout(slurm_home: Path, tmp_path: Path):
    wf = Workflow("s-timeout")
    wf.add(Step("nap", PythonOPTemplate(ops.nap, resources={"time": "00:01:00"}),
                parameters={"seconds": 600, "log_dir": str(tmp_path), "tag": "n"}))
    wf.submit()
    assert wf.wait(timeout=400) == "Failed"
    (step,) = wf.query_step(name="nap")
    assert "time limit" in step.message
    assert wf._client.store.attempts(wf.id)[0]["kind"] == "timeout"
    assert sacct_states(slurm_ids(wf)) and all(s.startswith("TIMEOUT") for s in sacct_states(slurm_ids(wf)).values())
    assert count(tmp_path, "n-end") == 0


def test_cancel_cancels_the_slurm_jobs(slurm_home: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from hpcflow.cli.main import app

    wf = Workflow("s-cancel")
    wf.add(Step("nap", PythonOPTemplate(ops.nap, slices=Slices(input_parameter=["tag"], output_parameter=["done"])),
                parameters={"seconds": 300, "log_dir": str(tmp_path), "tag": ["n0", "n1", "n2"]}))
    wf.submit()
    deadline = time.time() + 120
    while count(tmp_path, "n0-start") == 0 and time.time() < deadline:
        time.sleep(0.2)
    ids = slurm_ids(wf)
    assert len(ids) == 3
    result = CliRunner().invoke(app, ["cancel", wf.id])
    assert result.exit_code == 0, result.output
    assert wf.query_status() == "Failed"
    deadline = time.time() + 60
    base = ids[0].split("_")[0]
    while time.time() < deadline:
        queue = subprocess.run(["squeue", "-h", "-j", base, "-o", "%i %T"], capture_output=True, text=True).stdout
        if not queue.strip() or "RUNNING" not in queue and "PENDING" not in queue:
            break
        time.sleep(0.5)
    assert "RUNNING" not in queue and "PENDING" not in queue
    assert count(tmp_path, "n0-end") == 0


def _wait_status(wf_id: str, home: Path, timeout: float) -> str:
    from hpcflow.store import Store

    store = Store(home / "hpcflow.db")
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = store.workflow_status(wf_id)
        if status in ("Succeeded", "Failed"):
            return status
        time.sleep(0.5)
    return store.workflow_status(wf_id)


def test_kill_9_daemon_mid_sliced_step_runs_every_slice_exactly_once(tmp_path: Path):
    home = tmp_path / "home"
    log = tmp_path / "log"
    log.mkdir()
    env = env_for(home)
    cli = [sys.executable, "-m", "hpcflow.cli.main"]
    script = tmp_path / "wf.py"
    script.write_text(textwrap.dedent(f"""
        from hpcflow import Step, Workflow
        from hpcflow.python import PythonOPTemplate, Slices
        from tests.integration import wf_ops as ops
        wf = Workflow("kill9")
        wf.add(Step("nap", PythonOPTemplate(ops.nap, slices=Slices(input_parameter=["tag"], output_parameter=["done"])),
                    parameters={{"seconds": 3, "log_dir": {str(log)!r}, "tag": [f"t{{i}}" for i in range(12)]}},
                    parallelism=4))
        wf.add(Step("after", PythonOPTemplate(ops.add), parameters={{"a": 1}}))
        wf.submit()
    """))
    wf_id = subprocess.run(cli + ["submit", str(script)], env=env, capture_output=True, text=True,
                           cwd=tmp_path).stdout.split()[-1]
    subprocess.run(cli + ["daemon", "start"], env=env, capture_output=True, check=True)
    try:
        pid = int((home / "daemon.pid").read_text())
        deadline = time.time() + 120
        while sum(count(log, f"t{i}-start") for i in range(12)) < 2 and time.time() < deadline:
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)  # in the middle of the sliced step
        time.sleep(1)
        assert sum(count(log, f"t{i}-end") for i in range(12)) < 12
        subprocess.run(cli + ["daemon", "start"], env=env, capture_output=True, check=True)
        assert _wait_status(wf_id, home, 300) == "Succeeded"
    finally:
        subprocess.run(cli + ["daemon", "stop"], env=env, capture_output=True)
    for i in range(12):
        assert count(log, f"t{i}-start") == 1, f"slice {i} started {count(log, f't{i}-start')} times"
        assert count(log, f"t{i}-end") == 1


def test_crash_between_sbatch_and_record_adopts_the_job(slurm_home: Path, tmp_path: Path):
    """The engine dies right after sbatch returned: a new engine adopts, never resubmits."""
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    client = get_client()
    wf = Workflow("s-adopt")
    wf.add(Step("nap", PythonOPTemplate(ops.nap, slices=Slices(input_parameter=["tag"], output_parameter=["done"])),
                parameters={"seconds": 1, "log_dir": str(tmp_path), "tag": ["a0", "a1", "a2"]}))
    os.environ["HPCFLOW_SUBMIT_ONLY"] = "1"  # nobody drives it but this test
    try:
        wf.submit()
    finally:
        del os.environ["HPCFLOW_SUBMIT_ONLY"]


    with pytest.raises(Crash):
        Engine(client.store, CrashAfterSubmit(client.scheduler), client.settings, only={wf.id}).tick()
    assert all(a["status"] == "submitting" and a["job_id"] is None for a in client.store.attempts(wf.id))
    engine = Engine(client.store, client.scheduler, client.settings, only={wf.id})
    deadline = time.time() + 300
    while client.store.workflow_status(wf.id) not in ("Succeeded", "Failed") and time.time() < deadline:
        engine.tick()
        time.sleep(0.5)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    for tag in ("a0", "a1", "a2"):
        assert count(tmp_path, f"{tag}-start") == 1
    assert len({a["job_id"].split("_")[0] for a in client.store.attempts(wf.id)}) == 1


def test_cron_tick_drives_a_submitted_workflow(tmp_path: Path):
    home = tmp_path / "home"
    env = env_for(home)
    cli = [sys.executable, "-m", "hpcflow.cli.main"]
    script = tmp_path / "wf.py"
    script.write_text(textwrap.dedent("""
        from hpcflow import Step, Workflow
        from hpcflow.python import PythonOPTemplate
        from tests.integration import wf_ops as ops
        wf = Workflow("bycron")
        a = Step("a", PythonOPTemplate(ops.add), parameters={"a": 1})
        wf.add(a)
        wf.add(Step("b", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"]}))
        wf.submit()
    """))
    wf_id = subprocess.run(cli + ["submit", str(script)], env=env, capture_output=True, text=True,
                           cwd=tmp_path).stdout.split()[-1]
    for _ in range(120):  # what cron does every minute, faster
        subprocess.run(cli + ["tick"], env=env, capture_output=True)
        show = json.loads(subprocess.run(cli + ["show", wf_id, "--json"], env=env, capture_output=True,
                                         text=True).stdout)
        if show["status"] in ("Succeeded", "Failed"):
            break
        time.sleep(0.5)
    assert show["status"] == "Succeeded"
    assert [s["outputs"]["parameters"]["c"] for s in show["steps"] if s["name"] == "b"] == [3]


def test_work_directories_are_private_and_jobs_still_run(slurm_home: Path, tmp_path: Path):
    """0700 workflow directories on the work root: Slurm jobs (the same user) still write
    into them, and the owner still reads and downloads every artifact."""
    import stat

    from hpcflow import download_artifact, upload_artifact

    old = os.umask(0o022)
    try:
        src = tmp_path / "in.txt"
        src.write_text("private input")
        wf = Workflow("s-private")
        wf.add(Step("read", PythonOPTemplate(ops.read_text), artifacts={"f": upload_artifact(src)}))
        wf.add(Step("write", PythonOPTemplate(ops.write_file), parameters={"name": "o.txt", "content": "done"}))
        wf.submit()
        assert wf.wait(timeout=300) == "Succeeded"
    finally:
        os.umask(old)
    work_dir = Path(wf.query()["work_dir"])
    assert stat.S_IMODE(work_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(slurm_home.stat().st_mode) == 0o700
    assert wf.query_step(name="read")[0].outputs.parameters["text"].value == "private input"
    art = wf.query_step(name="write")[0].outputs.artifacts["out"]
    got = download_artifact(art, path=tmp_path / "got")
    assert [Path(p).read_text() for p in got] == ["done"]
