"""The login-node daemon: a loop around ``Engine.tick()`` with backoff and a heartbeat.

One daemon per user and store, guaranteed by an exclusive lock held for its lifetime.
``hpcflow tick`` (cron) skips while a daemon is alive, and ticks never overlap.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hpcflow.engine.lock import TickLock
from hpcflow.errors import HpcflowError
from hpcflow.private import make_private_home, private_file

log = logging.getLogger("hpcflow.daemon")


def daemon_paths(store_dir: Path) -> dict[str, Path]:
    return {
        "lock": store_dir / "daemon.lock",
        "pid": store_dir / "daemon.pid",
        "log": store_dir / "daemon.log",
    }


def daemon_pid(store_dir: Path) -> int | None:
    """The pid of the live daemon of this store, or None."""
    paths = daemon_paths(store_dir)
    probe = TickLock(paths["lock"])
    if probe.acquire(timeout=0):
        probe.release()
        return None
    try:
        return int(paths["pid"].read_text().strip())
    except (OSError, ValueError):
        return -1


def start_detached(store_dir: Path, cli_options: list[str], timeout: float = 60.0) -> int:
    """Start ``hpcflow daemon run`` in its own session, logging to a file; return its pid
    once it holds its lock and the pid file names it, so `status` right after is truthful
    (and a stale pid file of a killed daemon is never taken for the new one).

    Args:
        cli_options: the global flags (``--home``, ``--site``) that name this store and site.
    """
    paths = daemon_paths(store_dir)
    argv = [sys.executable, "-m", "hpcflow.cli.main", *cli_options, "daemon", "run"]
    make_private_home(store_dir)
    with open(private_file(paths["log"]), "ab") as logf:
        # Started from "/": `python -m` puts the working directory first on sys.path, and a
        # user's json.py or random.py there must not replace the standard library's.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True, env=dict(os.environ), cwd="/")
    deadline = time.monotonic() + timeout
    while daemon_pid(store_dir) != proc.pid:
        if proc.poll() is not None:
            raise HpcflowError(f"the daemon exited at start (status {proc.returncode}); see {paths['log']}")
        if time.monotonic() > deadline:
            raise HpcflowError(f"the daemon (pid {proc.pid}) did not start within {timeout:.0f} s; "
                               f"see {paths['log']}")
        time.sleep(0.05)
    return proc.pid


def stop(store_dir: Path, timeout: float = 30.0) -> bool:
    pid = daemon_pid(store_dir)
    if pid is None or pid <= 0:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon_pid(store_dir) is None:
            return True
        time.sleep(0.1)
    return False


def run_forever(client: Any, min_interval: float = 1.0, max_interval: float = 30.0) -> None:
    """The daemon's loop: tick, then sleep longer while nothing happens."""
    paths = daemon_paths(client.store.path.parent)
    life = TickLock(paths["lock"])
    # Not timeout=0: `daemon_pid` probes by taking the lock for an instant (`daemon start`
    # polls it while this process starts), and a probe must not make the daemon give up.
    if not life.acquire(timeout=5.0):
        raise SystemExit(f"a daemon already runs for {client.store.path} (pid file {paths['pid']})")
    tmp = private_file(paths["pid"].with_name(f".{paths['pid'].name}.{os.getpid()}"))
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, paths["pid"])  # readers never see an empty pid file
    client.store.record_daemon(os.getpid(), os.uname().nodename)
    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    interval = min_interval
    log.info("daemon started (pid %s, store %s)", os.getpid(), client.store.path)
    try:
        while not stopping:
            try:
                report = client.tick_once(wait_lock=5.0, as_daemon=True)
                client.store.heartbeat()
            except Exception:  # a bad tick must not kill the daemon; it is logged and retried
                log.exception("tick failed")
                report = None
            busy = report is not None and (report.launched or report.finished_units)
            idle = report is not None and report.active_workflows == 0
            unavailable = report is not None and report.scheduler_unavailable
            if busy:
                interval = min_interval
            else:
                interval = min(max_interval, interval * (2.0 if (idle or unavailable) else 1.3))
            if report is not None and report.next_poll_at is not None and not unavailable:
                # The engine knows when its next scheduler query is due (poll_policy).
                interval = min(max_interval, max(0.1, report.next_poll_at - time.time()))
            slept = 0.0
            while slept < interval and not stopping:
                time.sleep(0.1)
                slept += 0.1
    finally:
        log.info("daemon stopping")
        client.store.record_daemon(None, None)
        life.release()
