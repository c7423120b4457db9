"""The local backend: jobs are processes on this machine, at most ``max_workers`` at once.

Each task runs in its own session (so killing the driver does not kill it, and a timeout
kills its whole process group) and writes a pid file, so another process can tell later
whether it still runs. The exit record in the unit directory remains the truth.
"""

from __future__ import annotations

import itertools
import json
import os
import select
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
    zygote: _Zygote | None = None
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
        self._zygote: _Zygote | None = None
        self._use_zygote = use_zygote

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
            elif task.state == JobState.RUNNING and task.pid is not None:
                _kill_group(task.pid, signal.SIGKILL)
                task.state = JobState.CANCELLED

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        """Jobs submitted under ``tags`` by this or an earlier driver (from the registry).

        A task the dead driver had queued but not started has no pid file: ``poll`` says
        UNKNOWN and the engine, finding no exit record, runs the unit again.
        """
        found: dict[str, SubmittedJob] = {}
        for tag in tags:
            if tag in {t.group for t in self._tasks.values()}:
                ids = tuple(t.task_id for t in self._tasks.values() if t.group == tag)
                found[tag] = SubmittedJob(tag, ids)
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

    def warm_up(self) -> None:
        """Start the fork server now, so it has imported the runtime by the first job."""
        if self._use_zygote and (self._zygote is None or not self._zygote.alive()):
            self._zygote = _early_zygote() or _Zygote()

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
                if code is None and not task.zygote.alive() and not _process_alive(task):
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
        runtime_args = _runtime_args(task.argv)
        if runtime_args is not None and self._use_zygote:
            if self._zygote is None or not self._zygote.alive():
                self._zygote = _early_zygote() or _Zygote()
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
        index = task.task_id.rpartition("#")[2]
        with open(task.pid_file, "a") as fh:  # one line per started task, one writer
            fh.write(f"{index} {task.pid} {_proc_start_time(task.pid)}\n")

    def _status(self, task: _Task) -> JobStatus:
        return JobStatus(task.state, task.exit_code, task.reason, "localhost")


def _runtime_args(argv: tuple[str, ...]) -> list[str] | None:
    """The runtime's arguments if ``argv`` is this interpreter running ``-m hpcflow.runtime``."""
    if len(argv) >= 3 and argv[1:3] == ("-m", "hpcflow.runtime") and argv[0] == sys.executable:
        return list(argv[3:])
    return None


class _Zygote:
    """The fork server process (:mod:`hpcflow.scheduler.zygote`) and its reply stream."""

    _ids = itertools.count()

    def __init__(self) -> None:
        # Started from "/" with only hpcflow on its path: a forked job must see the paths
        # its own request names, never the working directory or PYTHONPATH of whoever ticks.
        import hpcflow  # its root as containers.pythonpath says, without the container backends

        env = dict(os.environ, PYTHONPATH=str(Path(hpcflow.__file__).resolve().parent.parent))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hpcflow.scheduler.zygote"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, start_new_session=True, cwd="/", env=env,
        )
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        self._buffer = b""
        self._exits: dict[int, int] = {}
        self._started: dict[int, int] = {}
        #: Jobs that reported their own exit: the server's report of it, which follows, is
        #: the same news.
        self._self_reported: set[int] = set()
        #: Its reply stream ended: it died (or is dying) and will report nothing more.
        self._closed = False

    def alive(self) -> bool:
        return not self._closed and self.proc.poll() is None

    def fork(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
        req_id = next(self._ids)
        line = json.dumps({"id": req_id, "args": args, "cwd": str(cwd), "env": env, "log": str(log)})
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        while req_id not in self._started:
            self._read(timeout=30.0)
            if not self.alive():
                raise RuntimeError("the local fork server died")
        return self._started.pop(req_id)

    def wait(self, timeout: float, pids: set[int]) -> None:
        """Until a job starts or ends (or ``timeout``); at once if the exit of one of ``pids``
        was read earlier and not collected yet (a short job can end before ``fork`` has
        read its reply)."""
        if not pids.isdisjoint(self._exits):
            return
        deadline = time.monotonic() + timeout
        while not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._read(remaining):
                return
        time.sleep(max(0.0, deadline - time.monotonic()))

    def collect(self) -> dict[int, int]:
        self._read(0.0)
        exits, self._exits = self._exits, {}
        return exits

    def _read(self, timeout: float) -> bool:
        """Read what the server and its jobs reported; whether any of it was news."""
        if self._closed:
            return False
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self._out, 65536)
        if not chunk:
            self._closed = True
            return True
        self._buffer += chunk
        news = False
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            msg = json.loads(line)
            if "status" not in msg:
                self._started[msg["id"]] = msg["pid"]
            elif msg.get("from") == "job":
                self._self_reported.add(msg["pid"])
                self._exits[msg["pid"]] = msg["status"]
            elif msg["pid"] in self._self_reported:
                self._self_reported.discard(msg["pid"])
                continue
            else:
                self._exits[msg["pid"]] = msg["status"]
            news = True
        return news


_early: list[_Zygote] = []


def start_fork_server_early() -> None:
    """Boot a fork server before the engine, the store and the site are even loaded.

    A first ``submit()`` in plain local mode calls this first thing: the server's ~80 ms of
    interpreter start-up and imports then overlap the submitting process's own, instead
    of starting after them. The next local scheduler of this process to need a fork
    server takes it (one that has died is dropped).
    """
    if not any(z.alive() for z in _early):
        _early[:] = [_Zygote()]


def _early_zygote() -> _Zygote | None:
    while _early:
        zygote = _early.pop()
        if zygote.alive():
            return zygote
    return None


def _proc_start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _process_alive(task: _Task) -> bool:
    """Whether the task's process still runs (its pid, started when the pid file says)."""
    return _live_pid(task.task_id) is not None


def _pid_entry(task_id: str) -> tuple[int, str] | None:
    """The pid and start time recorded for a task: a line of its job's pid list
    (``local:<jobs>/<tag>.pids#<i>``), or an older driver's pid file of its own."""
    path, sep, index = task_id.removeprefix("local:").partition("#")
    try:
        if not sep:
            pid_s, start = Path(path).read_text().split()
            return int(pid_s), start
        with open(path) as fh:
            for line in fh:
                fields = line.split()
                if len(fields) == 3 and fields[0] == index:
                    return int(fields[1]), fields[2]
    except (OSError, ValueError):
        pass
    return None


def recorded_pid(task_id: str) -> int | None:
    """The pid a local task was started with (whether or not it still runs)."""
    entry = _pid_entry(task_id)
    return entry[0] if entry is not None else None


def _live_pid(task_id: str) -> int | None:
    """The pid of a task started by another process, if that process is still alive."""
    entry = _pid_entry(task_id)
    if entry is None:
        return None
    pid, start = entry
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z" or fields[19] != start:
        return None
    return pid


def _status_from_pid_file(task_id: str) -> JobStatus:
    if _pid_entry(task_id) is None:
        return JobStatus(JobState.UNKNOWN, reason="never started by this process")
    if _live_pid(task_id):
        return JobStatus(JobState.RUNNING, node="localhost")
    return JobStatus(JobState.UNKNOWN, reason="process ended")


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
