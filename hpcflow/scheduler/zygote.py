"""A fork server for the local backend: one warm Python that forks a child per job.

Starting ``python -m hpcflow.runtime`` costs ~60 ms of interpreter start-up and imports per
step; forking a process that has already imported the runtime costs ~2 ms. Only runtime
jobs are forked here (container-wrapped jobs are started normally). Each child runs in its
own session, like a spawned job, so time limits and cancel kill its process group.

Protocol (JSON lines): requests on stdin ``{"id", "args", "cwd", "env", "log"}``; replies
on stdout ``{"id", "pid"}`` when started and ``{"pid", "status"}`` when a child exits.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
from typing import Any


def _child(req: dict[str, Any]) -> None:
    """In the forked child: become a job, then run the runtime's main and exit."""
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.chdir(req["cwd"])
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
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
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


#: Modules every job imports; loaded once here so a forked job does not load them again
#: (that costs ~8 ms of a ~12 ms job).
WARM_MODULES = (
    "hpcflow.python.op", "hpcflow.runtime.execute", "hpcflow.runtime.group", "hpcflow.codec",
    "hpcflow.storage.hashing", "hpcflow.storage.remote", "hpcflow.spec.evaluate",
    "cloudpickle", "tempfile", "socket",
)


def dsl_modules() -> list[str]:
    """What ``from hpcflow import Workflow, Step, ...`` loads: a job whose OP is defined in the
    workflow's own script imports that script, and with it the DSL (~5 ms with bytecode,
    ~15 ms without, per job)."""
    import hpcflow

    exports = getattr(hpcflow, "_EXPORTS", {})
    return sorted(set(exports.values())) + ["hpcflow.python.template"]


def _warm(name: str) -> None:
    import importlib

    try:
        importlib.import_module(name)
    except Exception:  # pragma: no cover - an optional helper missing: jobs load it themselves
        pass


def serve() -> None:
    """Import the runtime, then serve fork requests; between them, import the DSL.

    Every job needs the runtime, so a request waits for it (a child forked earlier would
    only import it again on a core the server itself needs). The DSL modules are loaded
    one by one, each after any pending request has been served.
    """
    for name in WARM_MODULES:
        _warm(name)
    warm = dsl_modules()
    out = sys.stdout
    stdin = sys.stdin.fileno()
    buffer = b""
    children: set[int] = set()
    r_sig, w_sig = os.pipe()
    os.set_blocking(w_sig, False)
    signal.set_wakeup_fd(w_sig)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        ready, _, _ = select.select([stdin, r_sig], [], [], 0.0 if warm else 1.0)
        if r_sig in ready:
            os.read(r_sig, 4096)
        _reap(children, out)
        if stdin not in ready:
            if warm:
                _warm(warm.pop(0))
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:  # the scheduler went away: stop serving; running children carry on
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            req = json.loads(line)
            # What is loaded so far leaves the collector's view: a child's collections then
            # do not touch (and so copy) every page of the warm modules.
            gc.freeze()
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                os.close(r_sig)
                os.close(w_sig)
                _child(req)
            children.add(pid)
            out.write(json.dumps({"id": req["id"], "pid": pid}) + "\n")
            out.flush()


def _reap(children: set[int], out: Any) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            children.discard(pid)
            continue
        if done:
            children.discard(pid)
            out.write(json.dumps({"pid": pid, "status": os.waitstatus_to_exitcode(status)}) + "\n")
            out.flush()


if __name__ == "__main__":
    serve()
