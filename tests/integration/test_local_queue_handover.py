"""Tasks a local scheduler queued behind its busy workers are written down with the job; any
other local scheduler that polls them may start them, and each starts exactly once
(claimed under the job's pid list lock), withdrawn ones never."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hpcflow.scheduler.base import JobRequest, JobState
from hpcflow.scheduler.local import LocalScheduler

TASK = """
import os, sys, time
with open(os.path.join(sys.argv[1], sys.argv[2]), "a") as fh:
    fh.write(f"{os.getpid()}\\n")
time.sleep(float(sys.argv[3]))
"""


def _job(tmp_path: Path, n: int, seconds: float) -> JobRequest:
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "task.py"
    script.write_text(TASK)
    return JobRequest(tag="handover", name="handover", workdir=tmp_path / "jobs",
                      tasks=tuple((sys.executable, str(script), str(marks), f"t{i}", str(seconds))
                                  for i in range(n)))


def _runs(tmp_path: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in (tmp_path / "marks").iterdir()}


def test_two_schedulers_share_a_queue_and_start_each_task_once(tmp_path: Path):
    first = LocalScheduler(max_workers=1, use_zygote=False)  # the tick that submitted
    ids = first.submit(_job(tmp_path, n=5, seconds=0.3)).task_ids
    assert (tmp_path / "jobs" / "handover.queued.json").exists()  # four tasks were left queued
    first.cancel([ids[4]])  # withdrawn while queued: no one may start it
    second = LocalScheduler(max_workers=2, use_zygote=False)  # a later engine, still running

    deadline = time.monotonic() + 60
    while True:
        states = {**first.poll(ids[:4]), **second.poll(ids[:4])}
        if all(not states[i].state.is_active for i in ids[:4]):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.05)

    assert _runs(tmp_path) == {f"t{i}": 1 for i in range(4)}  # each started once, by one of them
    assert second.poll([ids[4]])[ids[4]].state == JobState.CANCELLED
    lines = (tmp_path / "jobs" / "handover.pids").read_text().split("\n")
    assert sorted(line.split()[0] for line in lines if line) == ["0", "1", "2", "3", "4"]


def test_a_task_left_queued_by_a_scheduler_that_is_gone_is_started_by_the_next(tmp_path: Path):
    gone = LocalScheduler(max_workers=1, use_zygote=False)
    ids = gone.submit(_job(tmp_path, n=3, seconds=0.0)).task_ids
    del gone  # its process ended (a cron tick): its in-memory queue is lost

    later = LocalScheduler(max_workers=1, use_zygote=False)
    deadline = time.monotonic() + 60
    while not all(s.state == JobState.COMPLETED for s in
                  (later.poll(ids[1:])[i] for i in ids[1:])):
        assert time.monotonic() < deadline, "the queued tasks were not started"
        time.sleep(0.05)
    assert _runs(tmp_path) == {"t0": 1, "t1": 1, "t2": 1}
