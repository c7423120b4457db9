"""Records written for big arrays without holding them in memory: the task list streamed
through a scratch file, attempts that make their directory from the work root, attempt
updates streamed in order. Each must equal what the held form gave."""

from __future__ import annotations

from pathlib import Path

from hpcflow.engine.launch import attempt_dir, safe_path
from hpcflow.engine.state import Attempt
from hpcflow.runtime.tasklist import read_task, render_task_list, write_task_list
from hpcflow.states import AttemptStatus
from hpcflow.store.db import Store


def _tasks(n: int) -> list[list[tuple[str, dict]]]:
    template = {"kind": "python", "name": "t"}
    return [[(f"/w/fan({i})/attempt-1", {"step": f"fan({i})", "template": template,
                                         "parameters": {"x": i, "s": "ü"}})] for i in range(n)]


def test_a_streamed_task_list_is_the_rendered_one(tmp_path: Path):
    path = tmp_path / "jobs" / "t" / "tasks.jsonl"
    write_task_list(path, iter(_tasks(50)), log="/w/units.log")
    assert path.read_bytes() == render_task_list(_tasks(50), log="/w/units.log")
    assert sorted(p.name for p in path.parent.iterdir()) == ["tasks.jsonl"]  # no scratch left
    header, units = read_task(path, 37)
    assert header["count"] == 50 and units[0][0] == "/w/fan(37)/attempt-1"
    assert units[0][1]["parameters"] == {"x": 37, "s": "ü"}


def test_an_attempt_without_its_directory_text_makes_it_from_the_work_root():
    att = Attempt("w", "loop/fan(3)", 2, None, "tag", AttemptStatus.SUBMITTING, work_root="/work/w-1")
    assert att.dir_text == attempt_dir("/work/w-1", "loop/fan(3)", 2)
    assert att.dir_text == f"/work/w-1/{safe_path('loop/fan(3)')}/attempt-2"
    held = Attempt("w", "x", 1, "/elsewhere/attempt-1", "tag", AttemptStatus.SUBMITTED)
    assert str(held.dir) == "/elsewhere/attempt-1"  # a recorded directory is kept as it is


def test_attempt_updates_apply_in_order(tmp_path: Path):
    store = Store(tmp_path / "db.sqlite")
    store.create_workflow("w", "w", {}, str(tmp_path))
    with store.transaction():
        store.add_attempts("w", [{"node_path": p, "number": 1, "dir": "/d", "tag": "t",
                                  "backend": "slurm", "status": "submitting"} for p in ("a", "b")])
        store.update_attempts([
            ("w", "a", 1, {"status": "submitted", "job_id": "1_0"}),
            ("w", "a", 1, {"status": "cancelled", "message": "m"}),
            ("w", "a", 1, {"status": "failed", "job_id": "1_9"}),  # the last change wins
            ("w", "b", 1, {"status": "submitted", "job_id": "1_1"}),
        ])
    rows = {r["node_path"]: r for r in store.attempts("w")}
    assert (rows["a"]["status"], rows["a"]["job_id"], rows["a"]["message"]) == ("failed", "1_9", "m")
    assert (rows["b"]["status"], rows["b"]["job_id"]) == ("submitted", "1_1")
