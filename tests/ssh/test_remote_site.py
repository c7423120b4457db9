"""A remote site: submit and watch from a "workstation" (its own HPCFLOW_HOME, the installed
``hpcflow`` and ``python wf.py`` as users run them) while the "login node" (a real sshd in
front of the real Slurm test cluster, its own store and daemon) drives the workflow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hpcflow
from tests.ssh.conftest import REPO_ROOT, SLURM_DEFAULTS, write_site
from tests.sshd_server import Sshd

PROJECT = Path(__file__).resolve().parent / "project"
HPCFLOW = str(Path(sys.executable).parent / "hpcflow")
pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


@pytest.fixture
def remote(sshd: Sshd, tmp_path: Path, slurm_up: None):
    """(workstation environment, workstation site file, login node's home)."""
    login_home = tmp_path / "login-node home"
    login_site = tmp_path / "login-site.toml"
    login_site.write_text("\n".join([
        'name = "login-node"', 'scheduler = "slurm"', f'work_root = "{tmp_path}/login-work"',
        "exit_record_grace_s = 10", "[defaults]",
        *(f"{k} = {json.dumps(v)}" for k, v in SLURM_DEFAULTS.items()), ""]))
    site = write_site(tmp_path / "remote.toml", sshd, name="cluster", remote_hpcflow=HPCFLOW,
                      remote_site=str(login_site), remote_home=str(login_home),
                      new_connection_interval_s=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCFLOW_")}
    env.update(HPCFLOW_HOME=str(tmp_path / "workstation home"), HPCFLOW_SITE=str(site))
    yield env, site, login_home
    subprocess.run([HPCFLOW, "--home", str(login_home), "--site", str(login_site), "daemon", "stop"],
                   capture_output=True, timeout=60)
    subprocess.run(["ssh", "-S", str(Path(env["HPCFLOW_HOME"]) / "ssh"), "-O", "exit", "x"],
                   capture_output=True, timeout=10)


def cli(env: dict[str, str], *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([HPCFLOW, *args], env=env, capture_output=True, text=True, timeout=300,
                          cwd=cwd)
    if check:
        assert proc.returncode == 0, f"hpcflow {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


def test_whole_workflow_submitted_remotely_driven_by_the_remote_daemon_watched_here(
        remote, sshd: Sshd, tmp_path: Path):
    env, site, login_home = remote
    marks = tmp_path / "marks"
    marks.mkdir()
    assert "started on cluster" in cli(env, "daemon", "start").stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # `python wf.py` on the workstation: submit, wait, query_step, download_artifact
    proc = subprocess.run([sys.executable, str(PROJECT / "fanout_wf.py"), "6", str(marks)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wf_id = proc.stdout.split()[1]
    expected = 3 * sum(i * i for i in range(6))
    assert proc.stdout.splitlines()[-1] == f"Succeeded {expected} sum={expected}"
    assert [len((marks / f"slice-{i}").read_text().splitlines()) for i in range(6)] == [1] * 6

    # the CLI from the workstation
    rows = json.loads(cli(env, "list", "--json").stdout)
    assert [r["status"] for r in rows if r["id"] == wf_id] == ["Succeeded"]
    shown = json.loads(cli(env, "show", wf_id, "--json").stdout)
    assert {s["name"] for s in shown["steps"]} >= {"fan", "total"}
    assert "Traceback" not in cli(env, "logs", wf_id, "total").stdout
    outputs = json.loads(cli(env, "outputs", wf_id, "--step", "total").stdout)
    assert outputs["outputs"]["parameters"]["sum"] == expected
    dest = tmp_path / "got"
    got = cli(env, "artifacts", "get", wf_id, "total", "report", "--dest", str(dest)).stdout.split()
    assert Path(got[0]).read_text() == f"sum={expected}\n"
    # the login node's store holds the workflow; the workstation has no store of its own
    from hpcflow.store import Store

    assert Store(login_home / "hpcflow.db").workflow_status(wf_id) == "Succeeded"
    assert not (Path(env["HPCFLOW_HOME"]) / "hpcflow.db").exists()
    # no secret was ever written: the private key is in no store, work or log file
    key = sshd.key.read_text().split("\n", 1)[1][:60]
    for root in (login_home, Path(env["HPCFLOW_HOME"]), tmp_path / "login-work"):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_socket():
                assert key not in path.read_text(errors="replace"), path


def test_submit_cancel_and_retry_from_the_workstation(remote, tmp_path: Path):
    env, site, login_home = remote
    proc = cli(env, "submit", str(PROJECT / "fanout_wf.py"), "--", "2", str(tmp_path), "--pause", "300",
               "--no-wait", cwd=tmp_path)
    wf_id = proc.stdout.split()[-1]
    assert cli(env, "show", wf_id, "--json").stdout
    cancelled = cli(env, "cancel", wf_id).stdout
    assert f"cancelled {wf_id}" in cancelled
    assert json.loads(cli(env, "show", wf_id, "--json").stdout)["status"] == "Failed"
    assert "retrying" in cli(env, "retry", wf_id, "--no-wait").stdout
    assert json.loads(cli(env, "show", wf_id, "--json").stdout)["status"] == "Running"
    cli(env, "cancel", wf_id)


def test_site_check_and_login_on_an_ssh_site(remote):
    env, site, _ = remote
    login = cli(env, "login", str(site))  # stdin is no terminal: the key logs in
    assert "connected to" in login.stdout
    assert "connected to" in cli(env, "login", "cluster").stdout  # the name of the site in effect
    report = cli(env, "site", "check").stdout
    checks = {m[2]: (m[1], m[3]) for m in re.finditer(r"\[\s*(ok|FAIL)\] (.+?)\s{2,}(.*)", report)}
    assert report.startswith("site cluster: OK"), report
    assert checks["ssh"][0] == "ok" and "root@127.0.0.1" in checks["ssh"][1]
    assert checks["remote hpcflow"][1].startswith(f"{hpcflow.__version__} (here {hpcflow.__version__})")
    assert checks["controller"][0] == "ok" and "UP" in checks["controller"][1]
    assert checks["partitions"] == ("ok", "debug")


def test_a_version_mismatch_is_one_clear_error_naming_both(remote, monkeypatch: pytest.MonkeyPatch):
    env, site, _ = remote
    from hpcflow.errors import VersionMismatch
    from hpcflow.remote.client import RemoteClient
    from hpcflow.site import load_site

    monkeypatch.setattr(hpcflow, "__version__", "9.9.9")
    client = RemoteClient(load_site(site), Path(env["HPCFLOW_HOME"]))
    with pytest.raises(VersionMismatch) as err:
        client.hello()
    assert "9.9.9" in str(err.value) and "0.1.0" in str(err.value)
    # and from the CLI's side of the wire
    answer = subprocess.run([HPCFLOW, "remote-api"], input=json.dumps({"op": "hello", "client_version": "0.0.1"}),
                            capture_output=True, text=True, timeout=60, env=env | {"HPCFLOW_SITE": ""},
                            cwd=REPO_ROOT)
    reply = json.loads(answer.stdout)
    assert reply["ok"] is False and reply["kind"] == "VersionMismatch"
    assert "0.0.1" in reply["error"] and f"login node has {reply['version']}" in reply["error"]
