"""The local backend: jobs are processes on this machine, at most ``max_workers`` at once.

Each task runs in its own session (so killing the driver does not kill it, and a timeout
kills its whole process group) and writes a pid file, so another process can tell later
whether it still runs. The exit record in the unit directory remains the truth.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hpcflow.private import make_dirs
from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, SubmittedJob
from hpcflow.scheduler.fork_client import Zygote, early_zygote, start_fork_server_early
from hpcflow.scheduler.local_pids import (
    NEVER_STARTED,
    WITHDRAWN,
    PidEntry,
    PidList,
    QueuedJob,
    live_pid,
    mark_timed_out,
    pid_entry,
    pid_line,
    proc_start_time,
    queued_file,
    read_queued,
    recorded_pid,
    split_task_id,
    status_from_pid_file,
    write_queued,
)

__all__ = ["LocalScheduler", "recorded_pid", "start_fork_server_early"]

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
    #: The fork server that started it (it reports the exit code), if one did.
    zygote: Zygote | None = None
    pid: int | None = None
    started: float | None = None
    state: JobState = JobState.PENDING
    exit_code: int | None = None
    term_sent: float | None = None
    reason: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class LocalScheduler:
    """Runs jobs as local processes; implements the Scheduler protocol."""

    name = "local"
    #: Tasks run the runtime on the attempt directories (fused steps read each other's).
    runs_in_unit_dirs = True

    def __init__(self, max_workers: int | None = None, use_zygote: bool = True,
                 registry: Path | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        #: Where each submission's task ids are recorded by tag, so that a driver started
        #: after a crash can adopt the jobs of the one that died.
        self.registry = registry
        self._tasks: dict[str, _Task] = {}
        self._queue: deque[str] = deque()
        self._group_limits: dict[str, int] = {}
        self._zygote: Zygote | None = None
        self._use_zygote = use_zygote
        #: Jobs whose queue is written down (hpcflow.scheduler.local_pids), by pid list:
        #: any process may start their queued tasks, so each start is claimed there first.
        self._shared: dict[Path, PidList] = {}
        #: Tasks another process started that still run, per job (tag), as the last poll
        #: saw them: they hold cores too.
        self._elsewhere: dict[str, int] = {}
        #: The task ids of the jobs this process submitted, by tag.
        self._submitted: dict[str, tuple[str, ...]] = {}
        #: Written-down queues read during this poll (one read per job, not per task).
        self._queued: dict[Path, QueuedJob | None] = {}

    # ------------------------------------------------------------------------ protocol

    def submit(self, job: JobRequest) -> SubmittedJob:
        job.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(job.env)
        ids = []
        # One log and one pid list per job, whatever its number of tasks (the units keep
        # their own logs); a task id names the list and the task's line in it.
        pid_file, log = job.workdir / f"{job.tag}.pids", job.workdir / f"{job.tag}.log"
        for i, argv in enumerate(job.tasks):
            task_id = f"local:{pid_file}#{i}"
            self._tasks[task_id] = _Task(
                task_id, tuple(argv), env, job.workdir, log,
                pid_file, job.resources.time_limit_s, job.tag,
            )
            self._queue.append(task_id)
            ids.append(task_id)
        if job.parallelism:
            self._group_limits[job.tag] = job.parallelism
        if self.registry is not None:
            make_dirs(self.registry)
            tmp = self.registry / f".{job.tag}.tmp"
            tmp.write_text(json.dumps(ids))
            os.replace(tmp, self.registry / f"{job.tag}.json")
        self._submitted[job.tag] = tuple(ids)
        self._pump()
        if any(self._tasks[tid].state == JobState.PENDING for tid in ids):
            self._share_queue(pid_file, job)
        return SubmittedJob(job.tag, tuple(ids))

    def poll(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        out: dict[str, JobStatus] = {}
        self._elsewhere, self._queued = {}, {}
        pid_lists: dict[str, dict[str, PidEntry]] = {}  # each job's list read once
        now = time.time()
        for tid in task_ids:
            if tid in self._tasks:
                continue
            status = status_from_pid_file(tid, pid_lists)
            # Queued and written down by another process (a cron tick that has ended):
            # queued here too, and started by whichever process claims it first.
            if status.reason == NEVER_STARTED and self._take_over(tid):
                continue
            out[tid] = status
            if status.state == JobState.RUNNING:
                tag = split_task_id(tid)[0].name.removesuffix(".pids")
                self._elsewhere[tag] = self._elsewhere.get(tag, 0) + 1
                entry = pid_entry(tid, pid_lists)
                if entry is not None and entry.deadline is not None and now > entry.deadline:
                    _stop_overdue(tid, entry, now)
        self._pump()
        for tid in task_ids:
            if tid not in out:
                task = self._tasks.get(tid)
                out[tid] = self._status(task) if task else status_from_pid_file(tid)
        return out

    def cancel(self, task_ids: Sequence[str]) -> None:
        for tid in task_ids:
            task = self._tasks.get(tid)
            if task is not None and task.state == JobState.PENDING:
                task.state = JobState.CANCELLED
                if tid in self._queue:
                    self._queue.remove(tid)
                if task.pid_file not in self._shared:
                    continue
            elif task is not None:
                if task.state == JobState.RUNNING and task.pid is not None:
                    _kill_group(task.pid, signal.SIGKILL)
                    task.state = JobState.CANCELLED
                continue
            # Queued in a written-down job (any process may start it), or another's task.
            if not self._withdraw(tid):
                pid = live_pid(tid)
                if pid:
                    _kill_group(pid, signal.SIGKILL)

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        """Jobs submitted under ``tags`` by this or an earlier driver (from the registry).

        A task the dead driver had left queued is started by the next ``poll`` that asks
        about it (its queue was written down); one it never got to record that far has no
        pid line: ``poll`` says UNKNOWN and the engine, finding no exit record, runs the unit
        again.
        """
        found: dict[str, SubmittedJob] = {}
        for tag in tags:
            if tag in self._submitted:
                found[tag] = SubmittedJob(tag, self._submitted[tag])
                continue
            if self.registry is None:
                continue
            try:
                ids = tuple(json.loads((self.registry / f"{tag}.json").read_text()))
            except (OSError, ValueError):
                continue
            found[tag] = SubmittedJob(tag, ids)
        return found

    # -------------------------------------------------------------------- internals

    def running(self) -> int:
        return sum(1 for t in self._tasks.values() if t.state == JobState.RUNNING)

    def _share_queue(self, pid_file: Path, job: JobRequest) -> None:
        """Write down a job's queue, so that the next engine starts what this process does
        not live to start (a cron tick exits after one pass)."""
        try:
            write_queued(pid_file, job.tasks, job.env, job.resources.time_limit_s, job.parallelism)
        except OSError:  # its tasks still start here while this process lives
            return
        self._shared[pid_file] = PidList(pid_file)

    def _take_over(self, task_id: str) -> bool:
        """Queue here a task another process queued and wrote down but did not start."""
        pid_file, index = split_task_id(task_id)
        if not index.isdigit():
            return False
        if pid_file not in self._queued:
            self._queued[pid_file] = read_queued(pid_file)
        job = self._queued[pid_file]
        if job is None or int(index) >= len(job.tasks):
            return False
        env = dict(os.environ)
        env.update(job.env)
        tag = pid_file.name.removesuffix(".pids")
        self._tasks[task_id] = _Task(task_id, job.tasks[int(index)], env, pid_file.parent,
                                     pid_file.with_name(f"{tag}.log"), pid_file,
                                     job.time_limit_s, tag)
        self._queue.append(task_id)
        if job.parallelism:
            self._group_limits[tag] = job.parallelism
        self._shared.setdefault(pid_file, PidList(pid_file))
        return True

    def _withdraw(self, task_id: str) -> bool:
        """Mark a queued task of a written-down job as never to start; False if some
        process started it already (or its job queued nothing)."""
        pid_file, index = split_task_id(task_id)
        if pid_file not in self._shared and not queued_file(pid_file).exists():
            return False
        pids = self._shared.setdefault(pid_file, PidList(pid_file))
        with pids.locked() as fh:
            if index in pids.started:
                return False
            fh.write(f"{index} 0 {WITHDRAWN}\n")
            pids.started.add(index)
        return True

    def warm_up(self) -> None:
        """Start the fork server now, so it has imported the runtime by the first job."""
        if self._use_zygote and (self._zygote is None or not self._zygote.alive()):
            self._zygote = early_zygote() or Zygote()

    def wait_for_change(self, timeout: float) -> None:
        """Sleep until a job may have ended (or ``timeout``): the fork server reports each
        exit, so local mode reacts at once (a dead fork server reports nothing: sleep)."""
        zygote = self._zygote
        running = {t.pid for t in self._tasks.values()
                   if t.zygote is zygote and t.state == JobState.RUNNING and t.pid is not None}
        if zygote is not None and zygote.alive() and running:
            zygote.wait(timeout, running)
        else:
            time.sleep(timeout)

    def _pump(self) -> None:
        """Reap finished tasks, enforce time limits, start queued tasks in free slots."""
        now = time.time()
        exits: dict[int, dict[int, int]] = {}  # per fork server, what it reported this pass
        for task in self._tasks.values():
            if task.state != JobState.RUNNING or task.pid is None:
                continue
            if task.popen is not None:
                code = task.popen.poll()
            elif task.zygote is not None:
                reported = exits.get(id(task.zygote))
                if reported is None:
                    reported = exits[id(task.zygote)] = task.zygote.collect()
                code = reported.pop(task.pid, None)
                if code is None and not task.zygote.alive() and live_pid(task.task_id) is None:
                    # Its fork server died, so no exit code will come: the exit record
                    # (which the engine reads next) says how it ended.
                    task.state = JobState.UNKNOWN
                    task.reason = "its local fork server died before reporting how it ended"
                    continue
            else:
                code = None
            if code is not None:
                task.exit_code = code
                task.state = JobState.TIMEOUT if task.term_sent else (
                    JobState.COMPLETED if code == 0 else JobState.FAILED)
                continue
            if task.time_limit_s and task.started and now - task.started > task.time_limit_s:
                if task.term_sent is None:
                    task.term_sent = now
                    task.reason = f"killed at its time limit of {task.time_limit_s} s"
                    _kill_group(task.pid, signal.SIGTERM)
                elif now - task.term_sent > _KILL_GRACE_S:
                    _kill_group(task.pid, signal.SIGKILL)
        free = self.max_workers - self.running() - sum(self._elsewhere.values())
        skipped: list[str] = []
        while free > 0 and self._queue:
            tid = self._queue.popleft()
            task = self._tasks[tid]
            limit = self._group_limits.get(task.group)
            if limit and self._elsewhere.get(task.group, 0) + sum(
                    1 for t in self._tasks.values()
                    if t.group == task.group and t.state == JobState.RUNNING) >= limit:
                skipped.append(tid)
                continue
            if self._start(task):
                free -= 1
            else:  # another process started it: its pid line tells how it goes
                del self._tasks[tid]
        self._queue.extendleft(reversed(skipped))

    def _start(self, task: _Task) -> bool:
        """Start a task; for a job whose queue is shared, only if no other process has
        (claimed under the pid list's lock). Whether it was started here."""
        pids = self._shared.get(task.pid_file)
        if pids is None:
            self._launch(task)
            with open(task.pid_file, "a") as fh:  # one line per started task, one writer
                fh.write(self._pid_line(task))
            return True
        index = task.task_id.rpartition("#")[2]
        with pids.locked() as fh:
            if index in pids.started:
                return False
            self._launch(task)
            fh.write(self._pid_line(task))
            pids.started.add(index)
        return True

    @staticmethod
    def _pid_line(task: _Task) -> str:
        assert task.pid is not None and task.started is not None
        deadline = task.started + task.time_limit_s if task.time_limit_s else None
        return pid_line(task.task_id.rpartition("#")[2], task.pid, proc_start_time(task.pid), deadline)

    def _launch(self, task: _Task) -> None:
        runtime_args = _runtime_args(task.argv)
        if runtime_args is not None and self._use_zygote:
            if self._zygote is None or not self._zygote.alive():
                self._zygote = early_zygote() or Zygote()
            task.zygote = self._zygote
            task.pid = self._zygote.fork(runtime_args, task.workdir, task.env, task.log)
        else:
            with open(task.log, "ab") as log:
                task.popen = subprocess.Popen(
                    task.argv, cwd=task.workdir, env=task.env, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            task.pid = task.popen.pid
        task.started = time.time()
        task.state = JobState.RUNNING

    def _status(self, task: _Task) -> JobStatus:
        return JobStatus(task.state, task.exit_code, task.reason, "localhost")


def _runtime_args(argv: tuple[str, ...]) -> list[str] | None:
    """The runtime's arguments if ``argv`` is this interpreter running ``-m hpcflow.runtime``."""
    if len(argv) >= 3 and argv[1:3] == ("-m", "hpcflow.runtime") and argv[0] == sys.executable:
        return list(argv[3:])
    return None


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _stop_overdue(task_id: str, entry: PidEntry, now: float) -> None:
    """Stop a task another process started (and can no longer watch) that ran past its
    time limit: SIGTERM to its group and a ``timeout`` line, so that whoever polls it next
    reports TIMEOUT; SIGKILL once it has had the grace period to end."""
    if entry.timed_out is None:
        mark_timed_out(task_id, now)
        _kill_group(entry.pid, signal.SIGTERM)
    elif now - entry.timed_out > _KILL_GRACE_S:
        _kill_group(entry.pid, signal.SIGKILL)
