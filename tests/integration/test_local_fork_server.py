"""The local fork server: it does not import from the directory a user runs hpcflow in, one
serves a whole process, and a workflow survives its death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

DECOY = """
import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "decoy-imported"), "a") as fh:
    fh.write(f"{os.getpid()}\\n")
raise SystemExit("the project's array.py was imported in place of the standard library's")
"""

WORKFLOW = """
from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate

@OP.function
def double(x: int) -> {"y": int}:
    return {"y": 2 * x}

wf = Workflow("decoy")
wf.add(Step("d", PythonOPTemplate(double), parameters={"x": 21}))
wf.submit()
"""


def test_a_project_file_named_like_a_stdlib_module_is_not_imported_by_jobs(tmp_path: Path):
    # `socket` imports `array`; the fork server imports socket, so before the fix it ran the
    # project's array.py (and a workflow script of that name submitted itself in every job).
    project = tmp_path / "project"
    project.mkdir()
    (project / "array.py").write_text(textwrap.dedent(DECOY))
    (project / "wf.py").write_text(textwrap.dedent(WORKFLOW))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HPCFLOW_")}
    env["HPCFLOW_HOME"] = str(tmp_path / "home")
    hpcflow = Path(sys.executable).with_name("hpcflow")
    proc = subprocess.run([str(hpcflow), "run", "wf.py"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Succeeded" in proc.stdout
    assert not (project / "decoy-imported").exists()


# ------------------------------------------------------------- start-up and a dying server

TWO_STEPS = """
import os, sys, time
from pathlib import Path
from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate

MARKS = Path(os.environ["MARKS"])

@OP.function
def first(x: int) -> {"y": int}:
    (MARKS / "first.tmp").write_text(str(os.getppid()))
    os.replace(MARKS / "first.tmp", MARKS / "first")  # the test kills the parent now
    time.sleep(float(os.environ.get("HOLD", "0")))
    return {"y": x + 1}

@OP.function
def second(y: int) -> {"z": int}:
    (MARKS / "second").write_text(str(os.getppid()))
    return {"z": y * 10}

for n in range(int(os.environ.get("WORKFLOWS", "1"))):
    wf = Workflow(f"two-{n}")
    a = Step("a", PythonOPTemplate(first), parameters={"x": 1})
    wf.add(a)
    wf.add(Step("b", PythonOPTemplate(second), parameters={"y": a.outputs.parameters["y"]}))
    wf.submit()
    status = wf.wait(timeout=60)
    print("RESULT", status, wf.query_step(name="b")[0].outputs.parameters["z"].value)
    sys.stdout.flush()

servers = []
for stat in Path("/proc").glob("[0-9]*/stat"):
    try:
        ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        cmd = (stat.parent / "cmdline").read_bytes().split(b"\\0")
    except (OSError, IndexError, ValueError):
        continue
    if ppid == os.getpid() and b"hpcflow.scheduler.zygote" in cmd:
        servers.append(stat.parent.name)
print("SERVERS", len(servers), "PID", os.getpid())
"""


def _start_two_steps(tmp_path: Path, **env_extra: str) -> tuple[subprocess.Popen[str], Path]:
    project = tmp_path / "project"
    marks = tmp_path / "marks"
    project.mkdir()
    marks.mkdir()
    (project / "wf.py").write_text(TWO_STEPS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCFLOW_")}
    env.update(HPCFLOW_HOME=str(tmp_path / "home"), MARKS=str(marks), **env_extra)
    proc = subprocess.Popen([sys.executable, "wf.py"], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, marks


def _finish(proc: subprocess.Popen[str], timeout: float) -> str:
    """The script's output once it ends; a script still running at ``timeout`` is killed."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"the workflow script did not end within {timeout} s:\n{out}") from None
    assert proc.returncode == 0, out
    return out


def _lines(out: str, word: str) -> list[list[str]]:
    return [line.split()[1:] for line in out.splitlines() if line.startswith(word + " ")]


def test_a_workflow_finishes_when_its_fork_server_is_killed_during_a_step(tmp_path: Path):
    # The server reports each job's exit; killed, it reports nothing. The job itself runs on
    # (its own session), its exit record says it succeeded, and the next step starts on a
    # new fork server. Before the fix the engine waited for the lost report forever.
    proc, marks = _start_two_steps(tmp_path, HOLD="1.5")
    deadline = time.monotonic() + 60
    while not (marks / "first").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            _finish(proc, 1)
            raise AssertionError("step a never started")
        time.sleep(0.05)
    server = int((marks / "first").read_text())
    os.kill(server, signal.SIGKILL)
    out = _finish(proc, 75)
    assert _lines(out, "RESULT") == [["Succeeded", "20"]], out
    assert int((marks / "second").read_text()) != server  # a new server started step b


def test_plain_local_mode_starts_one_fork_server_for_every_submission(tmp_path: Path):
    # The first submit() boots the server before the engine is imported; the scheduler must
    # take that one (not start a second), and the next workflow must reuse it.
    proc, marks = _start_two_steps(tmp_path, WORKFLOWS="2")
    out = _finish(proc, 120)
    assert _lines(out, "RESULT") == [["Succeeded", "20"], ["Succeeded", "20"]], out
    assert _lines(out, "SERVERS")[0][0] == "1", out
    assert (marks / "first").read_text() == (marks / "second").read_text()


def test_no_fork_server_is_started_when_it_is_turned_off(tmp_path: Path):
    proc, marks = _start_two_steps(tmp_path, HPCFLOW_NO_ZYGOTE="1")
    out = _finish(proc, 120)
    assert _lines(out, "RESULT") == [["Succeeded", "20"]], out
    servers, _, script_pid = _lines(out, "SERVERS")[0]
    assert servers == "0", out
    assert (marks / "second").read_text() == script_pid  # the job was the script's own child


def _processes_with(variable: str) -> list[int]:
    """Processes whose environment holds ``variable`` (an exact ``NAME=value`` item)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if variable.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_neither_the_fork_server_nor_its_spare_child_outlives_the_script(tmp_path: Path):
    # The server keeps one child forked ahead of the next job; when the script exits, the
    # server and that idle child must both go (the idle child sees its pipe close).
    proc, marks = _start_two_steps(tmp_path, HOLD="0.3")
    try:
        proc.wait(timeout=120)  # not communicate(): a leaked child would hold its stdout open
        deadline = time.monotonic() + 10
        while (left := _processes_with(f"MARKS={marks}")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for pid in _processes_with(f"MARKS={marks}"):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
    out = proc.communicate()[0]
    assert proc.returncode == 0, out
    assert left == [], out


DIES = """
import os
from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate

@OP.function
def dies(x: int) -> {"y": int}:
    os._exit(7)  # no exit record, and no report from the job itself: the server's counts

wf = Workflow("dies")
wf.add(Step("d", PythonOPTemplate(dies), parameters={"x": 1}))
wf.submit()
print("RESULT", wf.wait(timeout=60))
print("PHASE", wf.query_step(name="d")[0].phase)
"""


def test_a_job_that_dies_without_an_exit_record_fails_its_step(tmp_path: Path):
    # Jobs report their own exit just before they end; one that never gets there is
    # reported by the fork server when it reaps it, and the step fails (it must not hang).
    (tmp_path / "wf.py").write_text(DIES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCFLOW_")}
    env["HPCFLOW_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen([sys.executable, "wf.py"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = _finish(proc, 90)
    assert _lines(out, "RESULT") == [["Failed"]], out
    assert _lines(out, "PHASE") == [["Failed"]], out
