"""The command line, in-process (CliRunner) and as a real `hpcflow` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from hpcflow import Step, Workflow
from hpcflow.cli.main import app
from hpcflow.python import PythonOPTemplate, Slices
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def all_commands(group, prefix: tuple[str, ...] = ()):
    # Duck-typed: typer >= 0.26 builds groups from its own copy of click, not click.Group.
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if hasattr(cmd, "commands"):
            yield from all_commands(cmd, prefix + (name,))


def test_every_command_has_help_text():
    commands = list(all_commands(get_command(app)))
    assert {c[0][0] for c in commands} >= {"run", "submit", "list", "show", "logs", "cancel", "retry",
                                           "outputs", "tick", "daemon", "site", "artifacts"}
    for path, cmd in commands:
        assert cmd.help and len(cmd.help) > 10, path
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path


def finished(tmp_path: Path) -> Workflow:
    wf = Workflow("clitest")
    sq = Step("sq", PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
              parameters={"x": [1.0, 2.0]}, key="sq-{{item}}")
    mk = Step("mk", PythonOPTemplate(ops.write_file), parameters={"name": "o.txt", "content": "hello"})
    wf.add([sq, mk])
    wf.submit()
    assert wf.wait(timeout=60) == "Succeeded"
    return wf


def test_list_show_outputs_logs_artifacts(tmp_path: Path):
    wf = finished(tmp_path)
    res = runner.invoke(app, ["list", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["id"] == wf.id
    res = runner.invoke(app, ["show", wf.id, "--json"])
    data = json.loads(res.output)
    assert data["status"] == "Succeeded"
    keys = {s["key"] for s in data["steps"]}
    assert {"sq-0", "sq-1"} <= keys
    assert all(s["phase"] == "Succeeded" for s in data["steps"])
    res = runner.invoke(app, ["show", wf.id])
    assert res.exit_code == 0 and "sq(1)" in res.output and "key=sq-1" in res.output
    res = runner.invoke(app, ["outputs", wf.id])
    outs = json.loads(res.output)
    assert outs["steps"]["sq"]["parameters"]["y"] == [1.0, 4.0]
    res = runner.invoke(app, ["logs", wf.id, "sq(1)"])
    assert res.exit_code == 0 and "attempt 1" in res.output
    res = runner.invoke(app, ["artifacts", "get", wf.id, "mk", "out", "--dest", str(tmp_path / "got")])
    assert res.exit_code == 0 and (tmp_path / "got" / "o.txt").read_text() == "hello"


def test_unknown_workflow_is_one_clear_error(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "show", "no-such-wf"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("hpcflow: error: no workflow 'no-such-wf'")
    assert "Traceback" not in proc.stderr


def console_script() -> str:
    """The ``hpcflow`` command pip installed beside this interpreter."""
    script = Path(sys.executable).parent / "hpcflow"
    assert script.exists(), f"no installed hpcflow command beside {sys.executable} (pip install -e .)"
    return str(script)


@pytest.mark.parametrize("args, message", [
    (["show"], "Missing argument"),
    (["nosuchcmd"], "No such command"),
    (["logs", "wf-only"], "Missing argument"),
    (["list", "--limit", "many"], "Invalid value"),
])
def test_installed_command_prints_usage_and_exits_2_on_usage_errors(args, message, tmp_path: Path):
    env = dict(os.environ, HPCFLOW_HOME=str(tmp_path / "home"))
    proc = subprocess.run([console_script(), *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Usage: hpcflow" in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_installed_command_reports_a_library_error_in_one_line(tmp_path: Path):
    env = dict(os.environ, HPCFLOW_HOME=str(tmp_path / "home"))
    proc = subprocess.run([console_script(), "show", "no-such-wf"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"hpcflow: error: no workflow 'no-such-wf' in "
                                                f"{tmp_path / 'home' / 'hpcflow.db'}"]


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "wf.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_run_exits_nonzero_when_the_workflow_fails(tmp_path: Path):
    script = _script(tmp_path, """
        from hpcflow import Step, Workflow
        from hpcflow.python import OP, FatalError, PythonOPTemplate

        @OP.function
        def boom(x: int) -> {"y": int}:
            raise FatalError("boom " + str(x))

        wf = Workflow("failing")
        wf.add(Step("boom", PythonOPTemplate(boom), parameters={"x": 1}))
        wf.submit()
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "run", str(script)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout and "boom 1" in proc.stdout


def test_run_and_submit_then_tick(tmp_path: Path):
    script = _script(tmp_path, """
        from hpcflow import Step, Workflow
        from hpcflow.python import OP, PythonOPTemplate

        @OP.function
        def inc(x: int) -> {"y": int}:
            return {"y": x + 1}

        wf = Workflow("ok")
        wf.add(Step("inc", PythonOPTemplate(inc), parameters={"x": 1}))
        wf.submit()
        while wf.query_status() in ("Pending", "Running"):
            pass
        print("RESULT", wf.query_step(name="inc")[0].outputs.parameters["y"].value)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "run", str(script)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT 2" in proc.stdout
    sub = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "submit", str(script)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert sub.returncode == 0, sub.stderr
    wf_id = sub.stdout.strip().splitlines()[-1]
    assert "RESULT" not in sub.stdout
    status = json.loads(subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "show", wf_id, "--json"],
                                       capture_output=True, text=True, env=env).stdout)["status"]
    assert status == "Pending"
    for _ in range(200):
        subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "tick"], env=env, capture_output=True)
        status = json.loads(subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "show", wf_id, "--json"],
                                           capture_output=True, text=True, env=env).stdout)["status"]
        if status == "Succeeded":
            break
    assert status == "Succeeded"


def test_cancel_stops_running_jobs(tmp_path: Path):
    log = tmp_path / "log"
    log.mkdir()
    wf = Workflow("cancelme")
    wf.add(Step("nap", PythonOPTemplate(ops.nap), parameters={"seconds": 30, "log_dir": str(log), "tag": "n"}))
    wf.submit()
    import time

    deadline = time.time() + 30
    while not (log / "n-start").exists() and time.time() < deadline:
        wf.query_status()
        time.sleep(0.02)
    assert (log / "n-start").exists()
    res = runner.invoke(app, ["cancel", wf.id])
    assert res.exit_code == 0 and "1 job" in res.output
    assert wf.query_status() == "Failed"
    attempts = wf._client.store.attempts(wf.id)
    from hpcflow.scheduler.local import recorded_pid

    pid = recorded_pid(attempts[0]["job_id"])
    assert pid is not None, attempts[0]["job_id"]
    import time

    def gone_or_zombie() -> bool:
        try:
            return open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z"
        except OSError:  # reaped already (also between a check and the read)
            return True

    for _ in range(50):
        if gone_or_zombie():
            break
        time.sleep(0.1)
    else:
        pytest.fail("the job's process still runs after cancel")
    assert not (log / "n-end").exists()


def test_daemon_start_status_stop_drives_submitted_workflows(tmp_path: Path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cli = [sys.executable, "-m", "hpcflow.cli.main"]
    script = _script(tmp_path, """
        from hpcflow import Step, Workflow
        from hpcflow.python import OP, PythonOPTemplate

        @OP.function
        def inc(x: int) -> {"y": int}:
            return {"y": x + 1}

        wf = Workflow("bydaemon")
        wf.add(Step("inc", PythonOPTemplate(inc), parameters={"x": 41}))
        wf.submit()
        wf.wait()
    """)
    wf_id = subprocess.run(cli + ["submit", str(script)], capture_output=True, text=True, env=env).stdout.split()[-1]
    assert subprocess.run(cli + ["daemon", "status"], env=env, capture_output=True).returncode == 3
    start = subprocess.run(cli + ["daemon", "start"], env=env, capture_output=True, text=True)
    assert "started daemon" in start.stdout
    try:
        again = subprocess.run(cli + ["daemon", "start"], env=env, capture_output=True, text=True)
        assert "already running" in again.stdout
        status = subprocess.run(cli + ["daemon", "status"], env=env, capture_output=True, text=True)
        assert status.returncode == 0 and "running: pid" in status.stdout
        tick = subprocess.run(cli + ["tick"], env=env, capture_output=True, text=True)
        assert "skipped: the daemon" in tick.stdout
        for _ in range(300):
            show = json.loads(subprocess.run(cli + ["show", wf_id, "--json"], capture_output=True,
                                             text=True, env=env).stdout)
            if show["status"] == "Succeeded":
                break
            import time

            time.sleep(0.1)
        assert show["status"] == "Succeeded"
    finally:
        stop = subprocess.run(cli + ["daemon", "stop"], env=env, capture_output=True, text=True)
    assert "stopped" in stop.stdout
    assert subprocess.run(cli + ["daemon", "status"], env=env, capture_output=True).returncode == 3
