"""The result cache as users meet it: an OP module in a project directory, workflows run
with ``python wf.py``. Editing a comment or docstring of the OP keeps its cached results;
editing its logic does not. Two identical workflows started together compute each slice
once (the second waits on the first's leases and reuses its results)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpcflow.store.db import Store

N = 20

OPS = '''
import os
import time

from hpcflow.python import OP


@OP.function
def scale(x: int, log_dir: str) -> {"y": int}:
    """DOC"""
    # COMMENT
    with open(os.path.join(log_dir, "scale"), "a") as fh:
        fh.write(f"{x}\\n")
    time.sleep(DELAY)
    return {"y": x * FACTOR}
'''

WF = '''
import json
import sys

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices

from my_ops import scale

wf = Workflow("project")
wf.add(Step("scale", PythonOPTemplate(scale, cache=True, slices=Slices(
    input_parameter=["x"], output_parameter=["y"])),
    parameters={"x": list(range(int(sys.argv[1]))), "log_dir": sys.argv[2]}))
wf.submit()
status = wf.wait(timeout=300)
units = wf.query_step(name="scale", type="Pod")
fan = wf.query_step(name="scale", type="FanOut")[0]
print(json.dumps({"id": wf.id, "status": status, "cached": sum(1 for s in units if s.cached),
                  "y": fan.outputs.parameters["y"].value if status == "Succeeded" else None}))
'''


def write_ops(project: Path, doc: str = "Scale x.", comment: str = "note", factor: int = 2,
              delay: float = 0.0) -> None:
    text = OPS.replace("DOC", doc).replace("COMMENT", comment)
    text = text.replace("FACTOR", str(factor)).replace("DELAY", str(delay))
    (project / "my_ops.py").write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "wf.py").write_text(textwrap.dedent(WF))
    (tmp_path / "log").mkdir()
    return root


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCFLOW_") and k != "PYTHONPATH"}
    env["HPCFLOW_HOME"] = str(home)
    return env


def start(project: Path, n: int) -> subprocess.Popen[str]:
    home, log = project.parent / "home", project.parent / "log"
    return subprocess.Popen([sys.executable, "wf.py", str(n), str(log)], cwd=project, env=env_for(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "Succeeded", (out, err)
    return result


def existing_store(project: Path) -> None:
    """Make the store before two processes open it at once, as a user's store exists
    already (two processes creating a new store together can hit "database is locked" in
    its first PRAGMA journal_mode=WAL)."""
    Store(project.parent / "home" / "hpcflow.db").close()


def executions(project: Path) -> int:
    path = project.parent / "log" / "scale"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_comment_edits_hit_and_logic_edits_miss(project: Path):
    write_ops(project)
    first = finish(start(project, 3))
    assert first["cached"] == 0 and first["y"] == [0, 2, 4] and executions(project) == 3
    write_ops(project, doc="Scale x by a factor (now documented).", comment="a new comment")
    second = finish(start(project, 3))
    assert second["cached"] == 3 and second["y"] == [0, 2, 4] and executions(project) == 3
    write_ops(project, factor=3)
    third = finish(start(project, 3))
    assert third["cached"] == 0 and third["y"] == [0, 3, 6] and executions(project) == 6


def test_two_concurrent_identical_workflows_compute_each_slice_once(project: Path):
    write_ops(project, delay=0.3)
    existing_store(project)
    procs = [start(project, N), start(project, N)]
    results = [finish(p) for p in procs]
    assert executions(project) == N  # each slice ran once, in one of the two workflows
    assert sorted(r["cached"] for r in results)[1] > 0
    assert sum(r["cached"] for r in results) == N
    assert all(r["y"] == [2 * x for x in range(N)] for r in results)
    store = Store(project.parent / "home" / "hpcflow.db")
    waits = [e for r in results for e in store.conn.execute(
        "SELECT message FROM events WHERE workflow_id = ? AND message LIKE 'waiting for workflow%'",
        (r["id"],))]
    assert waits  # the lease made one of them wait, rather than both computing


def hpcflow(args: list[str], project: Path) -> str:
    script = Path(sys.executable).parent / "hpcflow"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "hpcflow.cli.main"]
    result = subprocess.run(command + args, cwd=project.parent, env=env_for(project.parent / "home"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cache_cli_explains_lists_and_forgets(project: Path):
    write_ops(project)
    first = finish(start(project, 2))
    second = finish(start(project, 2))
    write_ops(project, factor=5)
    third = finish(start(project, 2))
    assert third["cached"] == 0
    steps = json.loads(hpcflow(["show", second["id"], "--json"], project))["steps"]
    cached = [s["cached"] for s in steps if s["type"] == "Pod"]
    assert [c["workflow"] for c in cached] == [first["id"]] * 2
    text = hpcflow(["show", second["id"]], project)
    assert f"cached from {first['id']}" in text
    hit = json.loads(hpcflow(["cache", "explain", second["id"], "scale", "--json"], project))
    assert [u["result"].split(":")[0] for u in hit] == ["hit", "hit"]
    miss = json.loads(hpcflow(["cache", "explain", third["id"], "scale", "--json"], project))
    assert [u["nearest"]["differs"] for u in miss] == [["source"], ["source"]]
    assert "miss: differs in source" in hpcflow(["cache", "explain", third["id"], "scale"], project)
    listed = json.loads(hpcflow(["cache", "list", "--json"], project))
    assert sorted(e["workflow_id"] for e in listed) == sorted([first["id"]] * 2 + [third["id"]] * 2)
    assert sum(e["hits"] for e in listed) == 2
    assert "forgot 2" in hpcflow(["cache", "forget", "--workflow", third["id"]], project)
    assert len(json.loads(hpcflow(["cache", "list", "--json"], project))) == 2
    fourth = finish(start(project, 2))  # factor 5 again: its entries were forgotten
    assert fourth["cached"] == 0 and executions(project) == 6


FAILS_ONCE = '''
import os
import time

from hpcflow.python import OP, FatalError


@OP.function
def scale(x: int, log_dir: str) -> {"y": int}:
    with open(os.path.join(log_dir, "scale"), "a") as fh:
        fh.write(f"{x}\\n")
    flag = os.path.join(log_dir, "fail-once")
    time.sleep(2)
    if os.path.exists(flag):
        os.remove(flag)
        raise FatalError("the first run fails")
    return {"y": x * 2}
'''


def test_a_workflow_waiting_on_a_lease_computes_when_the_holder_fails(project: Path):
    (project / "my_ops.py").write_text(textwrap.dedent(FAILS_ONCE))
    (project.parent / "log" / "fail-once").write_text("")
    existing_store(project)
    procs = [start(project, 1), start(project, 1)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["status"] for r in results) == ["Failed", "Succeeded"], results
    winner = next(r for r in results if r["status"] == "Succeeded")
    assert winner["cached"] == 0 and winner["y"] == [0]  # a failure is never cached
    assert executions(project) == 2
    store = Store(project.parent / "home" / "hpcflow.db")
    waited = store.conn.execute("SELECT COUNT(*) FROM events WHERE workflow_id = ? AND message LIKE "
                                "'waiting for workflow%'", (winner["id"],)).fetchone()[0]
    assert waited == 1  # it waited for the one that failed, then computed
