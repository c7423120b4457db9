"""A poll of many local tasks started by another process reads their job's pid list once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpcflow.scheduler import local_pids
from hpcflow.scheduler.base import JobState
from hpcflow.scheduler.local_pids import WITHDRAWN, proc_start_time, status_from_pid_file


def test_one_read_of_a_pid_list_gives_each_task_its_own_line(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pids = tmp_path / "job.pids"
    me = os.getpid()
    pids.write_text(f"0 {me} {proc_start_time(me)}\n1 0 {WITHDRAWN}\n2 999999999 0\n"
                    f"1 {me} {proc_start_time(me)}\n")  # a line after the first of index 1 is ignored
    ids = [f"local:{pids}#{i}" for i in range(4)]
    uncached = [status_from_pid_file(tid) for tid in ids]

    reads: list[str] = []
    real = local_pids._read_pid_list
    monkeypatch.setattr(local_pids, "_read_pid_list", lambda path: reads.append(path) or real(path))
    lists: dict[str, dict[str, tuple[int, str]]] = {}
    cached = [status_from_pid_file(tid, lists) for tid in ids]

    assert cached == uncached
    assert [s.state for s in cached] == [JobState.RUNNING, JobState.CANCELLED,
                                         JobState.UNKNOWN, JobState.UNKNOWN]
    assert cached[2].reason == "process ended" and cached[3].reason == local_pids.NEVER_STARTED
    assert reads == [pids]
