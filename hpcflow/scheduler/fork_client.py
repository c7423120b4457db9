"""The client side of the local fork server (:mod:`hpcflow.scheduler.zygote`): start it,
ask it to fork a job, and read what it and its jobs report."""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path


class Zygote:
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


_early: list[Zygote] = []


def start_fork_server_early() -> None:
    """Boot a fork server before the engine, the store and the site are even loaded.

    A first ``submit()`` in plain local mode calls this first thing: the server's ~80 ms of
    interpreter start-up and imports then overlap the submitting process's own, instead
    of starting after them. The next local scheduler of this process to need a fork
    server takes it (one that has died is dropped).
    """
    if not any(z.alive() for z in _early):
        _early[:] = [Zygote()]


def early_zygote() -> Zygote | None:
    while _early:
        zygote = _early.pop()
        if zygote.alive():
            return zygote
    return None
