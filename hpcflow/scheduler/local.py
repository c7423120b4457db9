"""The local backend: jobs are processes on this machine, at most ``max_workers`` at once.

Each task runs in its own session (so killing the driver does not kill it, and a timeout
kills its whole process group) and writes a pid file, so another process can tell later
whether it still runs. The exit record in the unit directory remains the truth.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, SubmittedJob

_KILL_GRACE_S = 5.0


@dataclass
class _Task:
    task_id: str
    argv: tuple[str, ...]
    env: dict[str, str]
    workdir: Path
    log: Path
    pid_file: Path
    time_limit_s: int | None
    group: str
    popen: subprocess.Popen[bytes] | None = None
    started: float | None = None
    state: JobState = JobState.PENDING
    exit_code: int | None = None
    term_sent: float | None = None
    reason: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class LocalScheduler:
    """Runs jobs as local processes; implements the Scheduler protocol."""

    name = "local"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        self._tasks: dict[str, _Task] = {}
        self._queue: deque[str] = deque()
        self._group_limits: dict[str, int] = {}

    # ------------------------------------------------------------------------ protocol

    def submit(self, job: JobRequest) -> SubmittedJob:
        job.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(job.env)
        ids = []
        for i, argv in enumerate(job.tasks):
            pid_file = job.workdir / f"{job.tag}.{i}.pid"
            task_id = f"local:{pid_file}"
            self._tasks[task_id] = _Task(
                task_id, tuple(argv), env, job.workdir, job.workdir / f"{job.tag}.{i}.log",
                pid_file, job.resources.time_limit_s, job.tag,
            )
            self._queue.append(task_id)
            ids.append(task_id)
        if job.parallelism:
            self._group_limits[job.tag] = job.parallelism
        self._pump()
        return SubmittedJob(job.tag, tuple(ids))

    def poll(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        self._pump()
        out = {}
        for tid in task_ids:
            task = self._tasks.get(tid)
            out[tid] = self._status(task) if task else _status_from_pid_file(tid)
        return out

    def cancel(self, task_ids: Sequence[str]) -> None:
        for tid in task_ids:
            task = self._tasks.get(tid)
            if task is None:
                pid = _live_pid(tid)
                if pid:
                    _kill_group(pid, signal.SIGKILL)
                continue
            if task.state == JobState.PENDING:
                task.state = JobState.CANCELLED
                if tid in self._queue:
                    self._queue.remove(tid)
            elif task.popen is not None and task.popen.poll() is None:
                _kill_group(task.popen.pid, signal.SIGKILL)
                task.popen.wait()
                task.state = JobState.CANCELLED

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        return {}  # local processes of a crashed driver are found by pid file, not by tag

    # -------------------------------------------------------------------- internals

    def running(self) -> int:
        return sum(1 for t in self._tasks.values() if t.state == JobState.RUNNING)

    def _pump(self) -> None:
        """Reap finished tasks, enforce time limits, start queued tasks in free slots."""
        now = time.time()
        for task in self._tasks.values():
            if task.state != JobState.RUNNING or task.popen is None:
                continue
            code = task.popen.poll()
            if code is not None:
                task.exit_code = code
                if task.state == JobState.RUNNING:
                    task.state = JobState.TIMEOUT if task.term_sent else (
                        JobState.COMPLETED if code == 0 else JobState.FAILED)
                continue
            if task.time_limit_s and task.started and now - task.started > task.time_limit_s:
                if task.term_sent is None:
                    task.term_sent = now
                    task.reason = f"killed at its time limit of {task.time_limit_s} s"
                    _kill_group(task.popen.pid, signal.SIGTERM)
                elif now - task.term_sent > _KILL_GRACE_S:
                    _kill_group(task.popen.pid, signal.SIGKILL)
        free = self.max_workers - self.running()
        skipped: list[str] = []
        while free > 0 and self._queue:
            tid = self._queue.popleft()
            task = self._tasks[tid]
            limit = self._group_limits.get(task.group)
            if limit and sum(1 for t in self._tasks.values()
                             if t.group == task.group and t.state == JobState.RUNNING) >= limit:
                skipped.append(tid)
                continue
            self._start(task)
            free -= 1
        self._queue.extendleft(reversed(skipped))

    def _start(self, task: _Task) -> None:
        with open(task.log, "ab") as log:
            task.popen = subprocess.Popen(
                task.argv, cwd=task.workdir, env=task.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        task.started = time.time()
        task.state = JobState.RUNNING
        task.pid_file.write_text(f"{task.popen.pid} {_proc_start_time(task.popen.pid)}\n")

    def _status(self, task: _Task) -> JobStatus:
        return JobStatus(task.state, task.exit_code, task.reason, "localhost")


def _proc_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _live_pid(task_id: str) -> int | None:
    """The pid of a task started by another process, if that process is still alive."""
    try:
        pid_s, start = Path(task_id.removeprefix("local:")).read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_s)
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z" or fields[19] != start:
        return None
    return pid


def _status_from_pid_file(task_id: str) -> JobStatus:
    if not Path(task_id.removeprefix("local:")).exists():
        return JobStatus(JobState.UNKNOWN, reason="never started by this process")
    if _live_pid(task_id):
        return JobStatus(JobState.RUNNING, node="localhost")
    return JobStatus(JobState.UNKNOWN, reason="process ended")


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
