"""The files by which another process knows a local job: its pid list and its queued tasks.

A local job runs at most ``max_workers`` tasks at once; the rest wait in the submitting
process's queue. A cron ``hpcflow tick`` exits after one pass, so when tasks are left
queued the job's queue is written down (``<tag>.queued.json`` beside its pid list
``<tag>.pids``) and the next engine that polls one of them starts it. Whoever starts a task
of such a job claims it first: under an exclusive lock on the pid list, a task whose index
has a line there was started (or withdrawn) by someone else. A task is thus started once,
by whichever process gets there first.

A task with a time limit carries its deadline on its line, so any later engine that polls it
enforces the limit the starting process can no longer (a cron tick that has ended): SIGTERM
to its process group and a ``timeout`` line, SIGKILL once the grace period has passed too.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from hpcflow.scheduler.base import JobState, JobStatus

#: The pid list line of a task withdrawn before it started (no process: pid 0).
WITHDRAWN = "withdrawn"
NEVER_STARTED = "never started by this process"
#: The line a process adds when it stops a task at its time limit (``<index> timeout <when>``).
TIMED_OUT = "timeout"


class PidEntry(NamedTuple):
    """What a job's pid list says about one task."""

    pid: int
    #: The process's start time (``/proc/<pid>/stat``), so a reused pid is not mistaken for it.
    start: str
    #: When its time limit runs out (epoch seconds), or None without one.
    deadline: float | None = None
    #: When a process stopped it at its time limit (its ``timeout`` line), or None.
    timed_out: float | None = None


def pid_line(index: str, pid: int, start: str, deadline: float | None) -> str:
    return f"{index} {pid} {start}" + (f" {deadline:.0f}" if deadline else "") + "\n"


def mark_timed_out(task_id: str, when: float) -> None:
    """Add the task's ``timeout`` line to its job's pid list (under the list's lock, as claims are)."""
    path, index = split_task_id(task_id)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(f"{index} {TIMED_OUT} {when:.0f}\n")


@dataclass(frozen=True)
class QueuedJob:
    """What starting a queued task needs, as the submitting process recorded it."""

    tasks: tuple[tuple[str, ...], ...]
    env: Mapping[str, str]
    time_limit_s: int | None
    parallelism: int | None


def split_task_id(task_id: str) -> tuple[Path, str]:
    """(pid list, task index) of ``local:<jobs>/<tag>.pids#<i>``."""
    path, _, index = task_id.removeprefix("local:").partition("#")
    return Path(path), index


def queued_file(pid_file: Path) -> Path:
    return pid_file.with_name(pid_file.name.removesuffix(".pids") + ".queued.json")


def write_queued(pid_file: Path, tasks: Sequence[Sequence[str]], env: Mapping[str, str],
                 time_limit_s: int | None, parallelism: int | None) -> None:
    """Record a job whose tasks wait for free cores (atomically: it is read by others). The
    argvs are stored as their common prefix and each task's rest (usually ``--index N``)."""
    first = list(tasks[0]) if tasks else []
    n = 0
    while n < len(first) and all(len(t) > n and t[n] == first[n] for t in tasks):
        n += 1
    record = {"prefix": first[:n], "rest": [list(t[n:]) for t in tasks], "env": dict(env),
              "time_limit_s": time_limit_s, "parallelism": parallelism}
    path = queued_file(pid_file)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def read_queued(pid_file: Path) -> QueuedJob | None:
    """The queued job recorded beside ``pid_file``, or None (nothing was left queued)."""
    try:
        record = json.loads(queued_file(pid_file).read_text())
        prefix = tuple(record["prefix"])
        return QueuedJob(tuple(prefix + tuple(rest) for rest in record["rest"]), record["env"],
                         record["time_limit_s"], record["parallelism"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class PidList:
    """The task indices a job's pid list names, read on from where it was last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.started: set[str] = set()

    @contextmanager
    def locked(self) -> Iterator[IO[str]]:
        """Hold the list's lock, with :attr:`started` up to date; lines written to the
        handle while it is held are claims no other process can race."""
        with open(self.path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(self._offset)
                for line in fh.read().splitlines():
                    fields = line.split()
                    if fields:
                        self.started.add(fields[0])
                yield fh
                fh.flush()
            finally:
                self._offset = fh.seek(0, os.SEEK_END)
                fcntl.flock(fh, fcntl.LOCK_UN)


def proc_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def pid_entry(task_id: str, lists: dict[str, dict[str, PidEntry]] | None = None) -> PidEntry | None:
    """What is recorded for a task: a line of its job's pid list
    (``local:<jobs>/<tag>.pids#<i>``), or an older driver's pid file of its own.

    ``lists`` caches each pid list read, so that one poll of a big fan-out reads its job's
    list once instead of once per task."""
    path, index = split_task_id(task_id)
    try:
        if not index:
            pid_s, start = path.read_text().split()
            return PidEntry(int(pid_s), start)
        entries = lists.get(str(path)) if lists is not None else None
        if entries is None:
            entries = _read_pid_list(path)
            if lists is not None:
                lists[str(path)] = entries
        return entries.get(index)
    except (OSError, ValueError):
        return None


def _read_pid_list(path: Path) -> dict[str, PidEntry]:
    """Index -> entry of one job's pid list; the first line of an index wins, and a later
    ``timeout`` line marks it stopped at its time limit."""
    entries: dict[str, PidEntry] = {}
    with open(path) as fh:
        for line in fh:
            fields = line.split()
            try:
                if len(fields) == 3 and fields[1] == TIMED_OUT:
                    if fields[0] in entries:
                        entries[fields[0]] = entries[fields[0]]._replace(timed_out=float(fields[2]))
                elif len(fields) in (3, 4) and fields[0] not in entries:
                    deadline = float(fields[3]) if len(fields) == 4 else None
                    entries[fields[0]] = PidEntry(int(fields[1]), fields[2], deadline)
            except ValueError:
                continue
    return entries


def recorded_pid(task_id: str) -> int | None:
    """The pid a local task was started with (whether or not it still runs)."""
    entry = pid_entry(task_id)
    return entry.pid if entry is not None and entry.pid > 0 else None


def live_pid(task_id: str, entry: PidEntry | None = None) -> int | None:
    """The pid of a task started by another process, if that process is still alive
    (``entry``: its pid-list line, when the caller has read it already)."""
    entry = entry or pid_entry(task_id)
    if entry is None or entry.pid <= 0:
        return None
    pid, start = entry.pid, entry.start
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z" or fields[19] != start:
        return None
    return pid


def status_from_pid_file(task_id: str, lists: dict[str, dict[str, PidEntry]] | None = None,
                         ) -> JobStatus:
    entry = pid_entry(task_id, lists)
    if entry is None:
        return JobStatus(JobState.UNKNOWN, reason=NEVER_STARTED)
    if entry.start == WITHDRAWN:
        return JobStatus(JobState.CANCELLED, reason="withdrawn before it started")
    if live_pid(task_id, entry):
        return JobStatus(JobState.RUNNING, node="localhost")
    if entry.timed_out is not None:
        return JobStatus(JobState.TIMEOUT, reason="killed at its time limit")
    return JobStatus(JobState.UNKNOWN, reason="process ended")
