"""A user's project on a login node: OPs and parameter classes in sibling modules of the
workflow script, `hpcflow submit` from the project directory, and the daemon or cron's
`hpcflow tick` started from another directory, with nothing on PYTHONPATH.

The job must import the user's modules from what the submitting process recorded in the
store, never from the environment of whichever process happens to tick.
"""

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
SLURM_SITE = REPO / "site-configs" / "slurm-test.toml"

MY_OPS = '''
from hpcflow.python import OP, OPIO, OPIOSign

from my_types import Scale


class Double(OP):
    """Doubles x, then multiplies by a user-defined parameter class."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "scale": Scale})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"y": 2 * op_in["x"] * op_in["scale"].factor})
'''

MY_TYPES = '''
class Scale:
    def __init__(self, factor):
        self.factor = factor
'''

WF = '''
from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate

from my_ops import Double
from my_types import Scale

wf = Workflow("sibling")
wf.add(Step("double", PythonOPTemplate(Double), parameters={"x": 21, "scale": Scale(2)}))
wf.submit()
'''


def hpcflow_command() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "hpcflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hpcflow.cli.main"]


def make_project(root: Path) -> Path:
    project = root / "project"
    project.mkdir()
    for name, text in (("my_ops.py", MY_OPS), ("my_types.py", MY_TYPES), ("wf.py", WF)):
        (project / name).write_text(textwrap.dedent(text))
    return project


def user_env(home: Path, site: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCFLOW_") and k != "PYTHONPATH"}
    env["HPCFLOW_HOME"] = str(home)
    if site is not None:
        env["HPCFLOW_SITE"] = str(site)
    return env


def hpcflow(args: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(hpcflow_command() + args, env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=120)
    if check:
        assert result.returncode == 0, f"hpcflow {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result


def show(wf_id: str, env: dict[str, str], cwd: Path) -> dict:
    return json.loads(hpcflow(["show", wf_id, "--json"], env, cwd).stdout)


def wait_for(wf_id: str, env: dict[str, str], cwd: Path, timeout: float, tick: bool = False) -> dict:
    deadline = time.time() + timeout
    while True:
        if tick:
            hpcflow(["tick"], env, cwd)
        state = show(wf_id, env, cwd)
        if state["status"] in ("Succeeded", "Failed") or time.time() > deadline:
            return state
        time.sleep(0.3)


def assert_doubled(state: dict, env: dict[str, str], cwd: Path) -> None:
    logs = hpcflow(["logs", state["id"], "double"], env, cwd, check=False).stdout
    assert state["status"] == "Succeeded", f"{state['message']}\n{logs}"
    step = next(s for s in state["steps"] if s["name"] == "double")
    assert step["outputs"]["parameters"]["y"] == 84


def submit(project: Path, env: dict[str, str]) -> str:
    out = hpcflow(["submit", "wf.py"], env, project).stdout.split()
    assert out, "hpcflow submit printed no workflow id"
    return out[-1]


@pytest.fixture
def login_node(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(project directory, another directory, HPCFLOW_HOME)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return make_project(tmp_path), elsewhere, tmp_path / "home"


def run_with_daemon(project: Path, elsewhere: Path, env: dict[str, str], timeout: float) -> None:
    wf_id = submit(project, env)
    hpcflow(["daemon", "start"], env, elsewhere)
    try:
        state = wait_for(wf_id, env, elsewhere, timeout)
    finally:
        hpcflow(["daemon", "stop"], env, elsewhere, check=False)
    assert_doubled(state, env, elsewhere)


def test_daemon_started_elsewhere_runs_ops_from_the_users_modules(login_node):
    project, elsewhere, home = login_node
    run_with_daemon(project, elsewhere, user_env(home), timeout=60)


def test_cron_tick_from_another_directory_runs_ops_from_the_users_modules(login_node):
    project, elsewhere, home = login_node
    env = user_env(home)
    wf_id = submit(project, env)
    assert_doubled(wait_for(wf_id, env, elsewhere, timeout=60, tick=True), env, elsewhere)


def test_the_launch_record_names_the_project_not_the_ticking_process(login_node):
    from hpcflow.store import Store

    project, elsewhere, home = login_node
    env = user_env(home)
    wf_id = submit(project, env)
    launch = Store(home / "hpcflow.db").get_workflow(wf_id)["launch"]
    assert str(project.resolve()) in launch["python_path"]
    assert str(elsewhere.resolve()) not in launch["python_path"]
    assert Path(launch["interpreter"]).resolve() == Path(submitting_interpreter()).resolve()


def submitting_interpreter() -> str:
    """The interpreter the console script runs under (its ``#!`` line)."""
    command = hpcflow_command()
    if len(command) > 1:
        return command[0]
    return Path(command[0]).read_text().splitlines()[0].removeprefix("#!").strip()


def test_a_daemon_started_in_a_directory_with_a_stdlib_name_clash_still_runs(login_node):
    """`hpcflow daemon start` from a directory holding a `json.py`: the daemon (started with
    `python -m`) must not import it instead of the standard library's json."""
    project, elsewhere, home = login_node
    (elsewhere / "json.py").write_text("raise ImportError('the user json.py was imported')\n")
    run_with_daemon(project, elsewhere, user_env(home), timeout=60)
