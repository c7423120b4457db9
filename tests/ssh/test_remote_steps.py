"""Remote steps: this machine's engine sends every step to Slurm through a real sshd.

The "cluster" is the real Slurm test cluster of this machine behind a real sshd on
127.0.0.1; the engine's own work root is a separate local mirror, so nothing reaches the
jobs except through SSH (staged task files, the shipped OP module and hpcflow library).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpcflow.client import get_client, reset_clients
from hpcflow.transport.ssh import SSH_COMMANDS
from tests.ssh.conftest import write_site
from tests.sshd_server import Sshd

PROJECT = Path(__file__).resolve().parent / "project"
pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


@pytest.fixture
def steps_site(request: pytest.FixtureRequest, sshd: Sshd, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch, slurm_up: None):
    remote_root = tmp_path / "cluster work"  # a space in the remote path, on purpose
    site = write_site(tmp_path / "steps.toml", sshd, name="ssh-steps", engine="local",
                      work_root=str(remote_root), client=getattr(request, "param", "openssh"))
    monkeypatch.setenv("HPCFLOW_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("HPCFLOW_SITE", str(site))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    monkeypatch.syspath_prepend(str(PROJECT))
    reset_clients()
    yield remote_root
    client = get_client()
    client.scheduler.transport.close()
    reset_clients()


def _submit(monkeypatch: pytest.MonkeyPatch, n: int, marks: Path, pause: float, group: int,
            tmp_path: Path) -> str:
    import fanout_wf

    scale = tmp_path / "scale.txt"
    scale.write_text("3\n")
    monkeypatch.setenv("HPCFLOW_SUBMIT_ONLY", "1")  # the test drives the ticks itself
    wf = fanout_wf.build(n, str(marks), pause, group, scale)
    wf.submit()
    monkeypatch.delenv("HPCFLOW_SUBMIT_ONLY")
    return str(wf.id)


def _marks(marks: Path, n: int) -> list[int]:
    return [len((marks / f"slice-{i}").read_text().splitlines()) if (marks / f"slice-{i}").exists()
            else 0 for i in range(n)]


def test_200_slices_one_login_and_one_status_command_per_tick(
        steps_site: Path, sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    SSH_COMMANDS.clear()
    wf_id = _submit(monkeypatch, 200, marks, 0.0, 10, tmp_path)
    client = get_client()
    engine = client.engine()
    ticks, status_per_tick = 0, []
    deadline = time.monotonic() + 600
    while client.store.workflow_status(wf_id) not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, "the workflow did not finish"
        before = SSH_COMMANDS["squeue"] + SSH_COMMANDS["sacct"]
        engine.tick()
        ticks += 1
        status_per_tick.append(SSH_COMMANDS["squeue"] + SSH_COMMANDS["sacct"] - before)
        time.sleep(1.0)
    assert client.store.workflow_status(wf_id) == "Succeeded"
    assert max(status_per_tick) == 1  # one squeue per tick, never more
    assert _marks(marks, 200) == [1] * 200
    total = [n for n in client.store.load_nodes(wf_id) if n["name"] == "total"][0]
    assert total["outputs"]["parameters"]["sum"] is not None
    from hpcflow.dsl.query import step_infos

    step = step_infos(client.store, wf_id, name="total")[0]
    assert step.outputs.parameters["sum"].value == 3 * sum(i * i for i in range(200))
    from hpcflow import download_artifact

    got = download_artifact(step.outputs.artifacts["report"], tmp_path / "down")
    assert Path(got[0]).read_text() == f"sum={3 * sum(i * i for i in range(200))}\n"
    assert sshd.authentications() == 1
    print(f"\nMEASURED 200 slices: {sshd.authentications()} login, {sshd.sessions()} SSH "
          f"commands in {ticks} ticks, squeue+sacct per tick max {max(status_per_tick)} "
          f"(total {sum(status_per_tick)}), commands by name {dict(SSH_COMMANDS)}")


def test_sshd_down_for_30_s_fails_nothing_and_every_slice_runs_once(
        steps_site: Path, sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    n = 12
    wf_id = _submit(monkeypatch, n, marks, 3.0, 1, tmp_path)
    client = get_client()
    engine = client.engine()
    deadline = time.monotonic() + 600
    while not client.store.attempts(wf_id, status=("submitted",)):
        assert time.monotonic() < deadline
        engine.tick()
        time.sleep(0.5)
    sshd.stop()  # the server and every connection go away mid-run
    down_until = time.monotonic() + 30
    disconnected = 0
    while time.monotonic() < down_until:
        report = engine.tick()
        disconnected += bool(report.scheduler_unavailable)
        time.sleep(1.0)
    assert disconnected > 0
    assert not [a for a in client.store.attempts(wf_id) if a["status"] == "failed"]
    sshd.start()
    while client.store.workflow_status(wf_id) not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, "the workflow did not finish after reconnection"
        engine.tick()
        time.sleep(1.0)
    assert client.store.workflow_status(wf_id) == "Succeeded"
    assert not [a for a in client.store.attempts(wf_id) if a["status"] == "failed"]
    assert _marks(marks, n) == [1] * n  # every slice ran exactly once


@pytest.mark.parametrize("steps_site", ["paramiko"], indirect=True)
def test_remote_steps_through_paramiko(steps_site: Path, sshd: Sshd, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    wf_id = _submit(monkeypatch, 6, marks, 0.0, 1, tmp_path)
    client = get_client()
    assert type(client.scheduler.transport).__name__ == "ParamikoTransport"
    deadline = time.monotonic() + 300
    while client.store.workflow_status(wf_id) not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline
        client.engine().tick()
        time.sleep(1.0)
    assert client.store.workflow_status(wf_id) == "Succeeded"
    assert _marks(marks, 6) == [1] * 6
    assert (steps_site / wf_id).is_dir()  # the attempts ran in the cluster's work root
    assert sshd.authentications() == 1
