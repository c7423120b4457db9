"""The job's task list: one file for all units of an array, each task found by seeking."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.runtime.tasklist import TaskListError, read_all, read_task, write_task_list


def _task(i: int, template: str = "t") -> dict:
    return {"workflow": "wf", "step": f"s({i})", "template": {"name": template, "big": "x" * 500},
            "parameters": {"x": f"ü\n{i}"}, "slice_index": i}


def test_each_task_reads_its_own_units_and_the_template_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    tasks = [[(f"/w/s({2 * k + j})/attempt-1", _task(2 * k + j)) for j in range(2)] for k in range(500)]
    tasks.append([("/w/other/attempt-1", _task(0, "other"))])
    write_task_list(path, tasks, log="/w/jobs/units.log")
    for number in (0, 1, 250, 499, 500):
        header, units = read_task(path, number)
        assert units == tasks[number]
        assert header["log"] == "/w/jobs/units.log"
    assert path.read_bytes().count(b"x" * 500) == 2  # one copy per distinct template
    assert read_all(path)[1] == tasks
    with pytest.raises(TaskListError, match="not task 501"):
        read_task(path, 501)
    path.write_bytes(b"something else\n")
    with pytest.raises(TaskListError, match="not an hpcflow task list"):
        read_task(path, 0)


def test_a_task_list_path_may_be_str_or_path(tmp_path: Path) -> None:
    """The engine passes Path, the runtime (no pathlib in a task) and the stagers str."""
    tasks = [[("/w/s(0)/attempt-1", _task(0))], [("/w/s(1)/attempt-1", _task(1))]]
    write_task_list(str(tmp_path / "a" / "tasks.jsonl"), tasks)  # makes the directory
    write_task_list(tmp_path / "b" / "tasks.jsonl", tasks)
    for path in (tmp_path / "a" / "tasks.jsonl", str(tmp_path / "b" / "tasks.jsonl")):
        assert read_task(path, 1)[1] == tasks[1] and read_all(path)[1] == tasks
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["tasks.jsonl"]  # no scratch left
