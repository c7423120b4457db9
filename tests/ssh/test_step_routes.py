"""Per-step routes: a Dflow-style script whose one step has a DispatcherExecutor with
SSHContext (batch_type Slurm) and whose other steps run in local mode on this machine.

The remote step's job is really ``sbatch``'ed through a real sshd on 127.0.0.1 in front of
the real Slurm test cluster; its artifact comes back and a local step consumes it; the
local steps never reach Slurm. Also: an unsupported executor key is one clear error, an
engine that restarts (every ``hpcflow tick`` is a new process) re-adopts the remote job
without submitting it again, and sshd stopped mid-run makes the step wait, not fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpcflow.store.db import Store
from tests.compat.scripts import HPCFLOW, alias_env, explain
from tests.sshd_server import Sshd

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]

WF = '''
import json, os, socket, sys, time
from pathlib import Path

from dflow import Step, Workflow
from dflow.plugins.dispatcher import DispatcherExecutor
from dflow.python import OP, Artifact, PythonOPTemplate


@OP.function
def seed(n: int) -> {"seed": Artifact(Path)}:
    out = Path("seed.txt")
    out.write_text(f"{n}\\n")
    return {"seed": out}


@OP.function
def scale(seed: Artifact(Path), pause: float) -> {"result": Artifact(Path), "job": str}:
    time.sleep(pause)
    n = int(Path(seed).read_text())
    print(f"scaling {n} on the cluster", flush=True)
    out = Path("result.txt")
    out.write_text(f"{6 * n} sourced={os.environ.get('SOURCED')} env={os.environ.get('ROUTED')}\\n")
    return {"result": out, "job": os.environ.get("SLURM_JOB_ID", "")}


@OP.function
def consume(result: Artifact(Path)) -> {"text": str, "job": str}:
    return {"text": Path(result).read_text().strip(), "job": os.environ.get("SLURM_JOB_ID", "")}


profile = {"hostname": "127.0.0.1", "username": os.environ["SSHD_USER"],
           "port": int(os.environ["SSHD_PORT"]), "key_filename": os.environ["SSHD_KEY"]}
profile.update(json.loads(os.environ.get("EXTRA_PROFILE", "{}")))
remote = DispatcherExecutor(
    machine_dict={"batch_type": "Slurm", "context_type": "SSHContext",
                  "remote_root": os.environ["REMOTE_ROOT"], "remote_profile": profile},
    resources_dict={"queue_name": "debug", "cpu_per_node": 1,
                    "custom_flags": ["#SBATCH --mem=200M", "#SBATCH --time=00:10:00"],
                    "source_list": [os.environ["SOURCE_FILE"]], "envs": {"ROUTED": "yes"}})

wf = Workflow("routed")
first = Step("seed", PythonOPTemplate(seed), parameters={"n": 7})
middle = Step("scale", PythonOPTemplate(scale), artifacts={"seed": first.outputs.artifacts["seed"]},
              parameters={"pause": float(os.environ.get("PAUSE", "0"))}, executor=remote)
last = Step("consume", PythonOPTemplate(consume), artifacts={"result": middle.outputs.artifacts["result"]})
wf.add(first)
if os.environ.get("SECOND_ROOT"):  # a second route to the same host (another work root)
    other = DispatcherExecutor(
        machine_dict={"batch_type": "Slurm", "context_type": "SSHContext",
                      "remote_root": os.environ["SECOND_ROOT"], "remote_profile": profile},
        resources_dict={"queue_name": "debug", "custom_flags": ["#SBATCH --mem=200M"],
                        "source_list": [os.environ["SOURCE_FILE"]], "envs": {"ROUTED": "second"}})
    wf.add([middle, Step("scale2", PythonOPTemplate(scale), artifacts={"seed": first.outputs.artifacts["seed"]},
                         parameters={"pause": float(os.environ.get("PAUSE", "0"))}, executor=other)])
else:
    wf.add(middle)
wf.add(last)
wf.submit()
print("submitted", wf.id, flush=True)
if os.environ.get("HPCFLOW_SUBMIT_ONLY"):
    sys.exit(0)
status = wf.wait()
step = wf.query_step(name="consume")[0]
remote_step = wf.query_step(name="scale")[0]
print(json.dumps({"status": status, "text": step.outputs.parameters["text"].value,
                  "job": step.outputs.parameters["job"].value,
                  "remote_job": remote_step.outputs.parameters["job"].value}))
'''


def _setup(tmp_path: Path, sshd: Sshd, home_slurm: bool = False, **extra: str) -> tuple[Path, dict[str, str]]:
    """The project directory with wf.py, a site file naming the test sshd's known_hosts
    (local mode, or with ``home_slurm`` this machine's own Slurm), and the script's
    environment."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "wf.py").write_text(textwrap.dedent(WF))
    site = tmp_path / "workstation.toml"
    own = ['scheduler = "slurm"', f"work_root = {json.dumps(str(tmp_path / 'home work'))}",
           "[defaults]", 'partition = "debug"', 'memory = "200M"', 'time = "00:10:00"'] if home_slurm \
        else ['scheduler = "local"']
    site.write_text("\n".join([
        'name = "workstation"', "exit_record_grace_s = 10", *own,
        '[ssh_hosts."127.0.0.1"]', f"known_hosts_file = {json.dumps(str(sshd.known_hosts))}",
        "new_connection_interval_s = 1", "poll_interval_s = 0", ""]))
    source = tmp_path / "cluster env.sh"  # a space in the path, on purpose
    source.write_text("export SOURCED=from-source-list\n")
    env = alias_env(tmp_path / "h", site, SSHD_USER=sshd.user, SSHD_PORT=str(sshd.port),
                    SSHD_KEY=str(sshd.key), REMOTE_ROOT=str(tmp_path / "cluster root"),
                    SOURCE_FILE=str(source), **extra)
    return project, env


def _run_script(project: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HPCFLOW), "exec", "--", sys.executable, "wf.py"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _tick(env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run([str(HPCFLOW), "tick"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, explain(proc)


def _tick_until_final(env: dict[str, str], cwd: Path, home: Path, wf_id: str, deadline: float,
                      gap: float, why: str) -> str:
    """Run `hpcflow tick` processes from ``cwd`` every ``gap`` s until the workflow ends
    (failing with ``why`` past ``deadline``); its final status."""
    status = ""
    while status not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, why
        _tick(env, cwd)
        store = Store(home / "hpcflow.db")
        status = store.workflow_status(wf_id)
        store.close()
        time.sleep(gap)
    return status


def _wf_id(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("submitted ")]
    assert lines, explain(proc)
    return lines[0].split()[1]


def _attempts(home: Path, wf_id: str) -> dict[str, list[dict[str, object]]]:
    store = Store(home / "hpcflow.db")
    try:
        out: dict[str, list[dict[str, object]]] = {}
        for a in store.attempts(wf_id):
            out.setdefault(str(a["node_path"]).rsplit("/", 1)[-1], []).append(a)
        return out
    finally:
        store.close()


def _slurm_jobs_of(wf_id: str, expect: int = 1) -> list[tuple[str, str]]:
    """(job id, job name) of every Slurm job whose hpcflow tag (at the end of the job
    name) names the workflow, from accounting (which lags the controller a little)."""
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 7200))
    deadline = time.monotonic() + 60
    rows: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        proc = subprocess.run(["sacct", "-X", "-n", "-P", "-a", "-S", since,
                               "--format=JobID,JobName%200"], capture_output=True, text=True, check=True)
        rows = [(ln.split("|")[0], ln.split("|", 1)[1]) for ln in proc.stdout.splitlines()
                if wf_id in ln]
        if len(rows) >= expect:
            return rows
        time.sleep(1)
    return rows


def test_one_step_runs_on_remote_slurm_over_ssh_and_the_others_locally(
        sshd: Sshd, tmp_path: Path, slurm_up: None) -> None:
    project, env = _setup(tmp_path, sshd)
    proc = _run_script(project, env)
    assert proc.returncode == 0, explain(proc)
    wf_id = _wf_id(proc)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "Succeeded", explain(proc)
    # the remote step read the local step's artifact (staged) and its setup ran; its
    # artifact came back and the local step read it here, outside Slurm
    assert result["text"] == "42 sourced=from-source-list env=yes"
    assert result["job"] == ""
    atts = _attempts(tmp_path / "h", wf_id)
    remote_job = str(atts["scale"][0]["job_id"])
    assert remote_job.startswith("ssh-") and str(atts["scale"][0]["tag"]).rsplit(".", 1)[1] == remote_job.split(":")[0]
    for local in ("seed", "consume"):
        assert not str(atts[local][0]["job_id"]).startswith("ssh-")
    assert result["remote_job"] == remote_job.split(":", 1)[1]  # the step ran inside that Slurm job
    jobs = _slurm_jobs_of(wf_id)
    assert [j for j, _ in jobs] == [remote_job.split(":", 1)[1]]  # Slurm ran the remote step only
    assert sshd.authentications() == 1  # one connection, shared by every command
    assert sshd.sessions() >= 3  # stage, sbatch, squeue, fetch: all through sshd
    remote_root = tmp_path / "cluster root" / wf_id
    ran_there = sorted(p.parent.parent.name for p in remote_root.rglob("exit.json"))
    assert ran_there == ["scale"]  # the others ran here (seed's output was only staged there)
    assert sorted(p.name for p in (remote_root / "seed").rglob("*") if p.is_file()) == ["seed.txt"]
    # the routed unit succeeded, so its log went to its job's merged log there: fetched too
    logs = subprocess.run([str(HPCFLOW), "logs", wf_id, "scale"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)
    assert logs.returncode == 0 and "scaling 7 on the cluster" in logs.stdout, explain(logs)
    print(f"\nMEASURED routed step: {sshd.authentications()} login, {sshd.sessions()} SSH commands")


def test_an_unsupported_executor_key_is_one_clear_error(sshd: Sshd, tmp_path: Path) -> None:
    project, env = _setup(tmp_path, sshd, EXTRA_PROFILE=json.dumps({"proxy_command": "ssh -W %h:%p jump"}))
    proc = _run_script(project, env, timeout=120)
    assert proc.returncode != 0
    assert "unsupported remote_profile keys: proxy_command" in proc.stderr, explain(proc)
    assert "submitted" not in proc.stdout
    assert sshd.authentications() == 0


def test_a_restarted_engine_adopts_the_remote_job_instead_of_submitting_it_again(
        sshd: Sshd, tmp_path: Path, slurm_up: None) -> None:
    project, env = _setup(tmp_path, sshd, PAUSE="4", HPCFLOW_SUBMIT_ONLY="1")
    proc = _run_script(project, env)
    assert proc.returncode == 0, explain(proc)
    wf_id = _wf_id(proc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "h"
    deadline = time.monotonic() + 240
    while not str((_attempts(home, wf_id).get("scale") or [{}])[0].get("job_id") or "").startswith("ssh-"):
        assert time.monotonic() < deadline, "the remote step was never submitted"
        _tick(env, elsewhere)  # each tick is a new engine process
        time.sleep(0.5)
    first = _attempts(home, wf_id)["scale"][0]
    # As if the engine had died after sbatch but before recording the job id: the next
    # engine finds the attempt "submitting" and must look its tag up on the remote cluster.
    store = Store(home / "hpcflow.db")
    store.update_attempt(wf_id, str(first["node_path"]), int(str(first["number"])), job_id=None,
                         status="submitting")
    store.close()
    assert _tick_until_final(env, elsewhere, home, wf_id, deadline, 0.5,
                             "the workflow did not finish") == "Succeeded"
    atts = _attempts(home, wf_id)["scale"]
    assert len(atts) == 1 and atts[0]["job_id"] == first["job_id"]  # adopted, same job
    assert [j for j, _ in _slurm_jobs_of(wf_id)] == [str(first["job_id"]).split(":", 1)[1]]


def test_sshd_stopped_mid_run_the_remote_step_waits_and_finishes_after(
        sshd: Sshd, tmp_path: Path, slurm_up: None) -> None:
    project, env = _setup(tmp_path, sshd, PAUSE="8", HPCFLOW_SUBMIT_ONLY="1")
    proc = _run_script(project, env)
    assert proc.returncode == 0, explain(proc)
    wf_id = _wf_id(proc)
    home = tmp_path / "h"
    deadline = time.monotonic() + 300
    while not str((_attempts(home, wf_id).get("scale") or [{}])[0].get("job_id") or "").startswith("ssh-"):
        assert time.monotonic() < deadline, "the remote step was never submitted"
        _tick(env, project)
        time.sleep(0.5)
    sshd.stop()  # the server and its connections go away while the job runs on Slurm
    down_until = time.monotonic() + 15
    while time.monotonic() < down_until:
        _tick(env, project)
        time.sleep(1.0)
    atts = _attempts(home, wf_id)
    assert atts["scale"][0]["status"] == "submitted" and len(atts["scale"]) == 1
    assert "consume" not in atts  # nothing went on without the remote result
    sshd.start()
    assert _tick_until_final(env, project, home, wf_id, deadline, 1.0,
                             "the workflow did not finish after reconnection") == "Succeeded"
    atts = _attempts(home, wf_id)
    assert all(len(v) == 1 and v[0]["status"] == "succeeded" for v in atts.values()), atts
    assert sshd.authentications() >= 2  # logged in again after the restart


def _drive_here(env: dict[str, str], wf_id: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[int]]:
    """Tick the workflow in this process (so the SSH command counters can be read); returns
    its final status and how many ``squeue`` ran over SSH in each tick."""
    from hpcflow.client import get_client, reset_clients
    from hpcflow.transport.ssh import SSH_COMMANDS

    for key in ("HPCFLOW_HOME", "HPCFLOW_SITE"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    reset_clients()
    client = get_client()
    engine = client.engine()
    per_tick: list[int] = []
    deadline = time.monotonic() + 300
    try:
        while client.store.workflow_status(wf_id) not in ("Succeeded", "Failed"):
            assert time.monotonic() < deadline, "the workflow did not finish"
            before = SSH_COMMANDS["squeue"]
            engine.tick()
            per_tick.append(SSH_COMMANDS["squeue"] - before)
            time.sleep(0.5)
        return client.store.workflow_status(wf_id), per_tick
    finally:
        client.scheduler.routes.close()
        reset_clients()


def test_two_routes_to_one_host_share_one_connection_and_one_squeue_per_tick(
        sshd: Sshd, tmp_path: Path, slurm_up: None, monkeypatch: pytest.MonkeyPatch) -> None:
    project, env = _setup(tmp_path, sshd, PAUSE="3", HPCFLOW_SUBMIT_ONLY="1",
                          SECOND_ROOT=str(tmp_path / "second root"))
    proc = _run_script(project, env)
    assert proc.returncode == 0, explain(proc)
    wf_id = _wf_id(proc)
    status, per_tick = _drive_here(env, wf_id, monkeypatch)
    atts = _attempts(tmp_path / "h", wf_id)
    routes = {str(atts[name][0]["job_id"]).split(":")[0] for name in ("scale", "scale2")}
    assert status == "Succeeded"
    assert len(routes) == 2  # two routes (two remote work roots) ...
    assert max(per_tick) == 1 and sum(per_tick) >= 1  # ... one squeue per tick for both
    assert sshd.authentications() == 1  # ... and one connection
    assert (tmp_path / "second root" / wf_id / "scale2").is_dir()
    assert not (tmp_path / "cluster root" / wf_id / "scale2").exists()


def test_an_engine_on_a_login_node_runs_its_own_steps_on_its_slurm_and_routes_one_over_ssh(
        sshd: Sshd, tmp_path: Path, slurm_up: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpcflow.scheduler.slurm.backend import COMMAND_COUNTS
    from hpcflow.transport.ssh import SSH_COMMANDS

    project, env = _setup(tmp_path, sshd, home_slurm=True, HPCFLOW_SUBMIT_ONLY="1")
    proc = _run_script(project, env)
    assert proc.returncode == 0, explain(proc)
    wf_id = _wf_id(proc)
    SSH_COMMANDS.clear()
    COMMAND_COUNTS.clear()
    status, _ = _drive_here(env, wf_id, monkeypatch)
    assert status == "Succeeded"
    atts = _attempts(tmp_path / "h", wf_id)
    routed = str(atts["scale"][0]["job_id"])
    home = [str(atts[name][0]["job_id"]) for name in ("seed", "consume")]
    assert routed.startswith("ssh-") and all(j.isdigit() for j in home)
    assert SSH_COMMANDS["sbatch"] == 1 and COMMAND_COUNTS["sbatch"] == 3  # 2 here, 1 over SSH
    assert sorted(j for j, _ in _slurm_jobs_of(wf_id, 3)) == sorted([*home, routed.split(":", 1)[1]])
    assert (tmp_path / "home work" / wf_id / "consume").is_dir()
    assert sorted(p.parent.parent.name for p in (tmp_path / "cluster root" / wf_id).rglob("exit.json")) == ["scale"]
