"""A fork server for the local backend: one warm Python that forks a child per job.

Starting ``python -m hpcflow.runtime`` costs ~60 ms of interpreter start-up and imports per
step; forking a process that has already imported the runtime costs ~2 ms. Only runtime
jobs are forked here (container-wrapped jobs are started normally). Each child runs in its
own session, like a spawned job, so time limits and cancel kill its process group.

One child is forked ahead of need (the *spare*): it waits on a pipe of its own, so a
request is handed to a process that already exists instead of waiting for a fork (about
1.5 ms of a 5 ms job). The next spare is forked when a job has ended, while the engine
reacts to that (a fork right after handing out the spare would compete with the job).

Protocol (JSON lines): requests on stdin ``{"id", "args", "cwd", "env", "log"}``; replies
on stdout ``{"id", "pid"}`` when started and ``{"pid", "status"}`` when a child exits (from
the job just before it exits, marked ``"from": "job"``, and from the server when it has
reaped it: the reader takes the first and ignores the second).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
from typing import Any, NoReturn

#: Modules every job imports; loaded once here so a forked job does not load them again
#: (that costs ~8 ms of a ~12 ms job).
WARM_MODULES = (
    "hpcflow.python.op", "hpcflow.runtime.execute", "hpcflow.runtime.group", "hpcflow.codec",
    "hpcflow.storage.hashing", "hpcflow.storage.remote", "hpcflow.spec.evaluate",
    "cloudpickle", "tempfile", "socket",
)


def _warm(name: str) -> None:
    import importlib

    try:
        importlib.import_module(name)
    except Exception:  # pragma: no cover - an optional helper missing: jobs load it themselves
        pass


# --------------------------------------------------------------------- in the children


def _become_job() -> None:
    """What a child does before it knows its request: its own session, default SIGCHLD,
    and no stdin."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def _run_job(req: dict[str, Any]) -> NoReturn:
    """Take the request's directory, log and environment, run the runtime's main, exit.

    The exit is reported by the job itself as soon as its records are written (its own
    copy of the server's reply stream): the server's report comes only after the process
    has been torn down and reaped, ~0.5-1 ms later.
    """
    replies = os.dup(1)  # not inherited by programs the job runs
    try:
        os.chdir(req["cwd"])
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.environ.clear()
        os.environ.update(req["env"])
        for path in reversed(req["env"].get("PYTHONPATH", "").split(os.pathsep)):
            if path and path not in sys.path:
                sys.path.insert(0, path)
        from hpcflow.runtime.group import main

        code = main(req["args"])
    except BaseException:  # noqa: BLE001 - anything here must end the child, never return
        import traceback

        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a full filesystem under the log: the exit record still says why
        pass
    try:
        msg = {"pid": os.getpid(), "status": code, "from": "job"}
        os.write(replies, (json.dumps(msg) + "\n").encode())
    except OSError:  # the server is gone: the engine reads the exit record all the same
        pass
    os._exit(code)


def _wait_as_spare(requests: int) -> NoReturn:
    """A spare: read one request until end of file, then run it. End of file with nothing
    read means the server retired this spare (or died): exit without running anything."""
    data = b""
    try:
        while chunk := os.read(requests, 65536):
            data += chunk
    except OSError:
        os._exit(0)
    if not data.strip():
        os._exit(0)
    _run_job(json.loads(data))


# ----------------------------------------------------------------------- in the server


class _Server:
    def __init__(self) -> None:
        self.out = sys.stdout
        self.children: set[int] = set()
        #: The spare's pid and the write end of its request pipe.
        self.spare: tuple[int, int] | None = None
        #: Spares retired unused: they exit without a job, so their exit is not reported.
        self.retired: set[int] = set()
        self.r_sig, self.w_sig = os.pipe()
        os.set_blocking(self.w_sig, False)
        signal.set_wakeup_fd(self.w_sig)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def _fork(self) -> int:
        """Fork; the child drops the server's descriptors, becomes a job and gets 0."""
        # What is loaded so far leaves the collector's view: a child's collections then do
        # not touch (and so copy) every page of the warm modules.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            os.close(self.r_sig)
            os.close(self.w_sig)
            if self.spare is not None:  # else the spare would never see its end of file
                os.close(self.spare[1])
            _become_job()
            return 0
        self.children.add(pid)
        return pid

    def make_spare(self) -> None:
        requests, handle = os.pipe()
        pid = self._fork()
        if pid == 0:
            os.close(handle)
            _wait_as_spare(requests)
        os.close(requests)
        self.spare = (pid, handle)

    def retire_spare(self) -> None:
        if self.spare is not None:
            pid, handle = self.spare
            self.spare = None
            self.retired.add(pid)
            os.close(handle)

    def start(self, req: dict[str, Any]) -> int:
        """Run ``req`` in the spare if there is one (else in a new child); its pid."""
        if self.spare is not None:
            pid, handle = self.spare
            self.spare = None
            try:
                data = memoryview(json.dumps(req).encode())
                while data:
                    data = data[os.write(handle, data):]
                return pid
            except OSError:  # the spare died (killed from outside): fork a new child
                self.retired.add(pid)
            finally:
                os.close(handle)
        pid = self._fork()
        if pid == 0:
            _run_job(req)
        return pid

    def reap(self) -> int:
        """Report the children that exited; how many jobs did."""
        ended = 0
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                self.children.discard(pid)
                continue
            if not done:
                continue
            self.children.discard(pid)
            if self.spare is not None and self.spare[0] == pid:  # died while waiting
                os.close(self.spare[1])
                self.spare = None
                continue
            if pid in self.retired:
                self.retired.discard(pid)
                continue
            self.reply({"pid": pid, "status": os.waitstatus_to_exitcode(status)})
            ended += 1
        return ended

    def reply(self, msg: dict[str, Any]) -> None:
        try:
            self.out.write(json.dumps(msg) + "\n")
            self.out.flush()
        except BrokenPipeError:  # the scheduler went away: stop; running jobs carry on
            self.retire_spare()
            os._exit(0)


def serve() -> None:
    """Import the runtime, then serve fork requests.

    Every job needs the runtime, so a request waits for it (a child forked earlier would
    only import it again on a core the server itself needs). The DSL is not loaded: an OP
    shipped from the workflow's script does not need it, and loading it in idle moments
    took CPU from the submitting process just when it needed it most.
    """
    for name in WARM_MODULES:
        _warm(name)
    server = _Server()
    server.make_spare()
    stdin = sys.stdin.fileno()
    buffer = b""
    while True:
        ready, _, _ = select.select([stdin, server.r_sig], [], [], 1.0)
        if server.r_sig in ready:
            os.read(server.r_sig, 4096)
        if server.reap() and server.spare is None:
            server.make_spare()
        if stdin not in ready:
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:  # the scheduler went away: stop serving; running children carry on
            server.retire_spare()
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            req = json.loads(line)
            server.reply({"id": req["id"], "pid": server.start(req)})


if __name__ == "__main__":
    serve()
