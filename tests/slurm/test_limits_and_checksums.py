"""On the real Slurm cluster: partition limits refuse a workflow at `hpcflow submit`, a
request within them reaches sbatch as checked, and a changed artifact fails its consumer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site-configs" / "slurm-test.toml"  # partition debug: max_cpus = 32
CLI = [sys.executable, "-m", "hpcflow.cli.main"]
pytestmark = pytest.mark.slurm


def env_for(home: Path) -> dict[str, str]:
    return dict(os.environ, HPCFLOW_HOME=str(home), HPCFLOW_SITE=str(SITE), PYTHONPATH=str(REPO))


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "wf.py"
    path.write_text(textwrap.dedent("""
        from hpcflow import Step, Workflow
        from hpcflow.python import PythonOPTemplate
        from tests.integration import wf_ops as ops
    """) + textwrap.dedent(body))
    return path


def run_to_end(home: Path, wf_id: str, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while True:
        subprocess.run(CLI + ["tick"], env=env_for(home), capture_output=True)
        show = json.loads(subprocess.run(CLI + ["show", wf_id, "--json"], env=env_for(home),
                                         capture_output=True, text=True).stdout)
        if show["status"] in ("Succeeded", "Failed") or time.time() > deadline:
            return show
        time.sleep(0.5)


def test_a_request_above_the_partition_limit_is_refused_at_submit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wf = script(tmp_path, """
        wf = Workflow("too-big")
        wf.add(Step("big", PythonOPTemplate(ops.add, requests={"cpu": "64"}), parameters={"a": 1}))
        wf.submit()
    """)
    proc = subprocess.run(CLI + ["submit", str(wf)], env=env_for(home), capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == (
        "hpcflow: error: workflow too-big: step big (in too-big-steps): asks for cpus 64, but "
        "partition 'debug' allows at most 32 (max_cpus)")
    from hpcflow.store import Store

    assert Store(home / "hpcflow.db").list_workflows() == []  # nothing stored, so nothing to run


def test_a_request_within_the_limits_reaches_sbatch_as_checked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wf = script(tmp_path, """
        wf = Workflow("fits")
        wf.add(Step("two", PythonOPTemplate(ops.add, resources={"cpus": 2, "time": "00:07:00"}),
                    parameters={"a": 1}))
        wf.submit()
    """)
    sub = subprocess.run(CLI + ["submit", str(wf)], env=env_for(home), capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert sub.returncode == 0, sub.stderr
    show = run_to_end(home, sub.stdout.split()[-1])
    assert show["status"] == "Succeeded", show
    from hpcflow.store import Store

    (attempt,) = Store(home / "hpcflow.db").attempts(show["id"])
    deadline = time.time() + 30  # accounting lags the controller: wait until it has the job
    while True:
        line = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "Partition,ReqCPUS,Timelimit", "-j",
                               attempt["job_id"]], capture_output=True, text=True).stdout.strip()
        if line.split("|")[1:2] not in ([""], ["0"], []) or time.time() > deadline:
            break
        time.sleep(1)
    assert line == "debug|2|00:07:00", line


def test_an_artifact_edited_between_steps_fails_its_consumer_on_slurm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wf = script(tmp_path, """
        wf = Workflow("edited")
        make = Step("make", PythonOPTemplate(ops.write_file), parameters={"name": "o.txt", "content": "1"})
        edit = Step("edit", PythonOPTemplate(ops.append_to), parameters={"text": "2"},
                    artifacts={"f": make.outputs.artifacts["out"]})
        read = Step("read", PythonOPTemplate(ops.read_text), artifacts={"f": make.outputs.artifacts["out"]})
        wf.add(make)
        wf.add(edit)
        wf.add(read)
        wf.submit()
    """)
    sub = subprocess.run(CLI + ["submit", str(wf)], env=env_for(home), capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    show = run_to_end(home, sub.stdout.split()[-1])
    assert show["status"] == "Failed", show
    steps = {s["name"]: s for s in show["steps"]}
    path = steps["make"]["outputs"]["artifacts"]["out"]
    assert steps["edit"]["phase"] == "Succeeded"
    assert steps["read"]["message"].startswith(
        f"ChecksumMismatch: step read: input artifact 'f': {path} changed after step make produced it")
