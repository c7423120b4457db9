"""A controller that does not answer: ticks back off, no job is marked failed, and the
workflow finishes once slurmctld is back. Runs last (it restarts the test cluster's
slurmctld from its pid file, as scripts/slurm-test-cluster.sh would)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate
from tests.integration import wf_ops as ops

REPO = Path(__file__).resolve().parents[2]
PID_FILE = Path("/tmp/slurmtest/slurmctld.pid")
pytestmark = pytest.mark.slurm


def controller_up(timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
        if ping.returncode == 0 and "UP" in ping.stdout:
            return True
        time.sleep(1)
    return False


@pytest.mark.skipif(not PID_FILE.exists(), reason="not the test cluster of scripts/slurm-test-cluster.sh")
def test_dead_controller_never_fails_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import get_client, reset_clients
    from hpcflow.engine.engine import Engine

    monkeypatch.setenv("HPCFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HPCFLOW_SITE", str(REPO / "site-configs" / "slurm-test.toml"))
    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")  # this test drives the engine itself
    reset_clients()
    client = get_client()
    wf = Workflow("ctld-down")
    wf.add(Step("nap", PythonOPTemplate(ops.nap), parameters={"seconds": 60, "log_dir": str(tmp_path), "tag": "n"}))
    wf.submit()
    engine = Engine(client.store, client.scheduler, client.settings, only={wf.id})
    deadline = time.time() + 120
    while not (tmp_path / "n-start").exists() and time.time() < deadline:
        engine.tick()
        time.sleep(0.5)
    assert (tmp_path / "n-start").exists()
    os.kill(int(PID_FILE.read_text().strip()), signal.SIGTERM)
    try:
        time.sleep(2)
        report = engine.tick()
        polled_by = time.time() + 60
        while not report.polled and time.time() < polled_by:  # squeue runs only when due
            time.sleep(0.5)
            report = engine.tick()
        assert report.scheduler_unavailable
        assert client.store.workflow_status(wf.id) == "Running"
        assert [s.phase for s in wf.query_step(name="nap")] == ["Running"]
    finally:
        subprocess.run(["slurmctld"], check=True)
        assert controller_up(60), "slurmctld did not come back"
    deadline = time.time() + 180
    while client.store.workflow_status(wf.id) == "Running" and time.time() < deadline:
        engine.tick()
        time.sleep(1)
    assert client.store.workflow_status(wf.id) == "Succeeded"
    assert (tmp_path / "n-end").read_text().count("\n") == 1
    reset_clients()
