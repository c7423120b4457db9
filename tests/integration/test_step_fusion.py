"""Steps(fuse=True) on the local scheduler: a chain runs in one job, each step with its own
attempt and exit record; a failure in the middle reruns only from the failed step."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpcflow.client import get_client
from tests.integration import chain_ops as ops

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("hpcflow_home")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    d = tmp_path / "log"
    d.mkdir()
    return d


def attempts(wf_id: str) -> list[dict]:
    return get_client().store.attempts(wf_id)


def test_a_fused_chain_runs_in_one_job(log: Path):
    wf = ops.chain("fused", 6, log, fuse=True)
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    assert wf.query_step(name="s5")[0].outputs.parameters["y"].value == 6
    rows = attempts(wf.id)
    assert len(rows) == 6 and all(a["status"] == "succeeded" for a in rows)
    assert len({a["job_id"] for a in rows}) == 1  # one job ran the six units
    assert len({a["dir"] for a in rows}) == 6  # each with its own attempt directory
    assert all((Path(a["dir"]) / "exit.json").is_file() for a in rows)
    assert [ops.runs(log, f"s{i}") for i in range(6)] == [1] * 6
    # The inputs read at run time are recorded on the node once the producer succeeded.
    assert wf.query_step(name="s3")[0].inputs.parameters["x"].value == 3


def test_a_failure_in_the_middle_reruns_only_from_the_failed_step(log: Path):
    (log / "fail-s3").touch()
    wf = ops.chain("fused-retry", 6, log, fuse=True)
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    assert wf.query_step(name="s5")[0].outputs.parameters["y"].value == 6
    assert [ops.runs(log, f"s{i}") for i in range(6)] == [1, 1, 1, 2, 1, 1]
    rows = attempts(wf.id)
    by_step = {}
    for a in rows:
        by_step.setdefault(a["node_path"], []).append(a["status"])
    assert by_step["s0"] == by_step["s1"] == by_step["s2"] == ["succeeded"]
    assert by_step["s3"] == ["failed", "succeeded"]
    # s4 and s5 never ran in the first job: withdrawn, not failed, and run in the second.
    assert by_step["s4"] == by_step["s5"] == ["cancelled", "succeeded"]
    assert len({a["job_id"] for a in rows}) == 2
    s4 = wf.query_step(name="s4")[0]
    node = get_client().store.load_nodes(wf.id)
    retries = {n["path"]: n["retries"] for n in node}
    assert retries["s3"] == 1 and retries["s4"] == 0 and retries["s5"] == 0
    assert s4.outputs.parameters["y"].value == 5


def test_a_step_that_fails_for_good_omits_the_fused_steps_after_it(log: Path):
    (log / "fatal-s2").touch()
    wf = ops.chain("fused-fatal", 5, log, fuse=True)
    wf.submit()
    assert wf.wait(timeout=120) == "Failed"
    phases = {n["path"]: n["phase"] for n in get_client().store.load_nodes(wf.id)}
    assert phases["s0"] == phases["s1"] == "Succeeded" and phases["s2"] == "Failed"
    assert phases["s3"] == phases["s4"] == "Omitted"
    assert [ops.runs(log, f"s{i}") for i in range(5)] == [1, 1, 1, 0, 0]


def test_without_fuse_the_local_scheduler_launches_each_step_when_the_last_ended(log: Path):
    wf = ops.chain("plain", 4, log, fuse=False)
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    rows = attempts(wf.id)
    assert len({a["job_id"] for a in rows}) == 4
    nodes = get_client().store.load_nodes(wf.id)
    assert not any("after" in (n["data"] or {}) for n in nodes)  # nothing launched early
    # Each step was submitted after the one before it had finished.
    ordered = sorted(rows, key=lambda a: a["node_path"])
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert after["submitted_at"] >= before["finished_at"]


def test_a_fused_workflow_runs_as_a_script(tmp_path: Path, log: Path):
    script = tmp_path / "wf.py"
    script.write_text(textwrap.dedent(f"""
        from tests.integration import chain_ops as ops

        wf = ops.chain("script-fused", 4, {str(log)!r}, fuse=True)
        wf.submit()
        print(wf.wait(timeout=120), wf.query_step(name="s3")[0].outputs.parameters["y"].value)
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("HPCFLOW_NO_ATEXIT", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Succeeded", "4"]
    assert [ops.runs(log, f"s{i}") for i in range(4)] == [1, 1, 1, 1]


def test_hpcflow_retry_after_a_fused_step_failed_for_good(hpcflow_home: Path, log: Path):
    (log / "fatal-s2").touch()
    wf = ops.chain("fused-retry-cli", 5, log, fuse=True)
    wf.submit()
    assert wf.wait(timeout=120) == "Failed"
    (log / "fatal-s2").unlink()  # the user fixes the cause, then retries from the shell
    hpcflow = Path(sys.executable).parent / "hpcflow"
    env = dict(os.environ, HPCFLOW_HOME=str(hpcflow_home), PYTHONPATH=str(REPO))
    proc = subprocess.run([str(hpcflow), "retry", wf.id], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert get_client().store.workflow_status(wf.id) == "Succeeded"
    assert wf.query_step(name="s4")[0].outputs.parameters["y"].value == 5
    assert [ops.runs(log, f"s{i}") for i in range(5)] == [1, 1, 2, 1, 1]  # s0, s1 kept
