"""Local mode driven only by cron: `hpcflow submit` in the project directory, then nothing but
fresh `hpcflow tick` processes started from `/`, each one a new engine with no memory.

What one tick learns and the next needs must be in the store or in the job's files: when a
job was first seen gone without an exit record (the grace period before it is lost), and
the tasks a tick queued behind the busy cores (the next tick starts them).
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

from tests.integration.test_user_project import hpcflow, show, user_env

WORKFLOW = '''
import os
import time

from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate, Slices

MARKS = {marks!r}


@OP.function
def work(x: int, hold: int) -> {{"y": int}}:
    """Marks each start and end with its pid; slice ``hold`` waits (once) to be killed."""
    open(os.path.join(MARKS, f"start-{{x}}-{{os.getpid()}}"), "w").close()
    held = os.path.join(MARKS, "held")
    if x == hold and not os.path.exists(held):
        with open(held + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(held + ".tmp", held)
        time.sleep(600)
    time.sleep({nap})
    open(os.path.join(MARKS, f"done-{{x}}-{{os.getpid()}}"), "w").close()
    return {{"y": 10 * x}}


wf = Workflow("cron")
wf.add(Step("work", PythonOPTemplate(work, slices=Slices("{{{{item}}}}", input_parameter=["x"],
                                                          output_parameter=["y"])),
            parameters={{"x": list(range({n})), "hold": {hold}}}, with_param=list(range({n}))))
wf.submit()
'''


def _project(tmp_path: Path, n: int, hold: int, nap: float) -> tuple[Path, Path]:
    project, marks = tmp_path / "project", tmp_path / "marks"
    project.mkdir()
    marks.mkdir()
    (project / "wf.py").write_text(textwrap.dedent(
        WORKFLOW.format(marks=str(marks), n=n, hold=hold, nap=nap)))
    return project, marks


def _submit(project: Path, env: dict[str, str]) -> str:
    out = hpcflow(["submit", "wf.py"], env, project).stdout.split()
    assert out, "hpcflow submit printed no workflow id"
    return out[-1]


def _tick_until(wf_id: str, env: dict[str, str], timeout: float, done: object = None) -> dict:
    """Fresh `hpcflow tick` processes from `/`, a second apart, until the workflow ends (or
    ``done()`` holds); returns `hpcflow show --json`."""
    deadline = time.monotonic() + timeout
    while True:
        hpcflow(["tick"], env, Path("/"))
        state = show(wf_id, env, Path("/"))
        if state["status"] in ("Succeeded", "Failed") or time.monotonic() > deadline:
            return state
        if callable(done) and done():
            return state
        time.sleep(1.0)


def _marks(marks: Path, kind: str) -> dict[int, int]:
    """How many times each slice left a ``kind`` mark (start or done)."""
    seen: dict[int, int] = {}
    for path in marks.glob(f"{kind}-*"):
        x = int(path.name.split("-")[1])
        seen[x] = seen.get(x, 0) + 1
    return seen


def _attempts(state: dict) -> dict[str, int]:
    return {s["name"]: s["attempts"] for s in state["steps"] if s["name"].startswith("work(")}


def test_cron_ticks_declare_a_killed_job_lost_and_retry_it(tmp_path: Path):
    # A job killed without an exit record is gone from the queue: after the grace period
    # it is lost and retried. Cron's ticks are new processes a minute apart; before the fix
    # each one started the grace period again, and the step stayed Running for ever.
    project, marks = _project(tmp_path, n=3, hold=1, nap=0)
    env = user_env(tmp_path / "home")
    env["HPCFLOW_LOCAL_WORKERS"] = "4"  # every slice starts at once: nothing is queued
    wf_id = _submit(project, env)
    held = marks / "held"
    _tick_until(wf_id, env, timeout=60, done=held.exists)
    assert held.exists(), "slice 1 never started"
    os.kill(int(held.read_text()), signal.SIGKILL)  # no exit record: the job is lost

    state = _tick_until(wf_id, env, timeout=90)

    assert state["status"] == "Succeeded", state["message"]
    assert _attempts(state) == {"work(0)": 1, "work(1)": 2, "work(2)": 1}
    assert _marks(marks, "start") == {0: 1, 1: 2, 2: 1}
    assert _marks(marks, "done") == {0: 1, 1: 1, 2: 1}  # each slice finished once
    step = next(s for s in state["steps"] if s["name"] == "work")
    assert step["outputs"]["parameters"]["y"] == [0, 10, 20]


def test_cron_ticks_start_the_slices_an_earlier_tick_left_queued(tmp_path: Path):
    # Two cores' worth of workers and five slices: the first tick starts two and queues
    # three. Before the fix the queue died with that tick; the next ticks found the queued
    # slices "never started by this process", declared them lost and ran them again as
    # system retries, a slice at a time, until the retries ran out.
    project, marks = _project(tmp_path, n=5, hold=-1, nap=0.5)
    env = user_env(tmp_path / "home")
    env["HPCFLOW_LOCAL_WORKERS"] = "2"
    wf_id = _submit(project, env)

    state = _tick_until(wf_id, env, timeout=120)

    assert state["status"] == "Succeeded", state["message"]
    assert _attempts(state) == {f"work({i})": 1 for i in range(5)}  # none was lost
    assert _marks(marks, "start") == {i: 1 for i in range(5)}  # each started exactly once
    assert _marks(marks, "done") == {i: 1 for i in range(5)}
    step = next(s for s in state["steps"] if s["name"] == "work")
    assert step["outputs"]["parameters"]["y"] == [0, 10, 20, 30, 40]


SLOW = '''
import os
import time

from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate


@OP.function
def slow(marks: str) -> {{"y": int}}:
    open(os.path.join(marks, f"start-0-{{os.getpid()}}"), "w").close()
    time.sleep(600)
    open(os.path.join(marks, f"done-0-{{os.getpid()}}"), "w").close()
    return {{"y": 1}}


wf = Workflow("limit")
wf.add(Step("slow", PythonOPTemplate(slow, resources={{"time": {limit}}}),
            parameters={{"marks": {marks!r}}}))
wf.submit()
'''


def test_cron_ticks_stop_a_job_at_its_time_limit_after_the_tick_that_started_it_ended(tmp_path: Path):
    # Only the process that starts a local job watches its clock; a cron tick exits at once.
    # The job's deadline is on its pid-list line, so a later tick stops it (SIGTERM, then
    # SIGKILL) and the step fails as timed out instead of running for ever.
    project, marks = tmp_path / "project", tmp_path / "marks"
    project.mkdir()
    marks.mkdir()
    (project / "wf.py").write_text(textwrap.dedent(SLOW.format(limit=3, marks=str(marks))))
    env = user_env(tmp_path / "home")
    wf_id = _submit(project, env)

    state = _tick_until(wf_id, env, timeout=90)

    assert state["status"] == "Failed", state["message"]
    step = next(s for s in state["steps"] if s["name"] == "slow")
    assert "time limit" in step["message"], step["message"]
    [start] = marks.glob("start-0-*")
    pid = int(start.name.rsplit("-", 1)[1])
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not list(marks.glob("done-*"))
