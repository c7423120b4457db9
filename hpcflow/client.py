"""The process-wide entry to a store, a site and an engine (what Workflow.submit talks to)."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpcflow import settings
from hpcflow.engine.engine import Engine
from hpcflow.engine.lock import TickLock
from hpcflow.engine.settings import EngineSettings
from hpcflow.scheduler.base import Scheduler
from hpcflow.states import FINAL_STATUSES
from hpcflow.store.db import Store

if TYPE_CHECKING:
    from hpcflow.remote.client import RemoteClient


@dataclass
class Client:
    """A store, the settings of the site it submits to, and a scheduler for that site."""

    store: Store
    settings: EngineSettings
    scheduler: Scheduler
    site_name: str = "local"
    #: Where jobs see attempt directories (``None``: here; a cluster's work root over SSH).
    work_area: Any = None

    def __post_init__(self) -> None:
        self._driven: set[str] = set()
        self._driver: threading.Thread | None = None
        self._driver_guard = threading.Lock()
        self._thread_state = threading.local()

    @property
    def lock(self) -> TickLock:
        """The tick lock, one object per thread (flock is held per open file)."""
        lock = getattr(self._thread_state, "lock", None)
        if lock is None:
            lock = TickLock(self.store.path.parent / "engine.lock", inherited_by_commands=True)
            self._thread_state.lock = lock
        return lock

    def engine(self, only: set[str] | None = None) -> Engine:
        key = frozenset(only) if only is not None else None
        engines: dict[frozenset[str] | None, Engine] = self.__dict__.setdefault("_engines", {})
        if key not in engines:
            engines[key] = Engine(self.store, self.scheduler, self.settings,
                                  only=set(only) if only else None, site_name=self.site_name,
                                  work_area=self.work_area)
        return engines[key]

    def _watch(self, wf_id: str, timeout: float | None) -> str:
        """Wait for the background driver to finish ``wf_id``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        sleep = 0.002
        while True:
            status = self.store.workflow_status(wf_id)
            if status in FINAL_STATUSES or (deadline is not None and time.monotonic() > deadline):
                return status
            if not self.is_driving(wf_id) and not self.daemon_running():
                return self.wait(wf_id, None if deadline is None else max(0.0, deadline - time.monotonic()))
            time.sleep(sleep)
            sleep = min(0.05, sleep * 1.5)

    def daemon_running(self) -> bool:
        from hpcflow.daemon import daemon_pid

        return daemon_pid(self.store.path.parent) is not None

    def tick_once(self, only: set[str] | None = None, wait_lock: float = 0.0,
                  as_daemon: bool = False) -> Any:
        """One engine pass if no other process is ticking (and, unless this is the daemon,
        no daemon drives the store); returns the report or None."""
        if not as_daemon and self.daemon_running():
            return None
        if not self.lock.acquire(timeout=wait_lock):
            return None
        try:
            return self.engine(only).tick()
        finally:
            self.lock.release()

    # ---------------------------------------------------------------- background driver

    def start_driving(self, wf_id: str) -> bool:
        """Drive ``wf_id`` from a background thread of this process (unless a daemon does).

        This is what makes ``submit()`` return at once while the workflow runs, so that a
        Dflow-style polling loop (``while wf.query_status() ...: sleep(1)``) sees progress.
        """
        from hpcflow.daemon import daemon_pid

        if daemon_pid(self.store.path.parent) is not None:
            return False
        warm_up = getattr(self.scheduler, "warm_up", None)
        if warm_up is not None:
            warm_up()
        with self._driver_guard:
            self._driven.add(wf_id)
            if self._driver is None or not self._driver.is_alive():
                self._driver = threading.Thread(target=self._drive_loop, name="hpcflow-driver",
                                                daemon=True)
                self._driver.start()
        return True

    def is_driving(self, wf_id: str) -> bool:
        return wf_id in self._driven and self._driver is not None and self._driver.is_alive()

    def _drive_loop(self) -> None:
        engine = Engine(self.store, self.scheduler, self.settings, only=self._driven,
                        site_name=self.site_name, work_area=self.work_area)
        waiter = getattr(self.scheduler, "wait_for_change", None)
        idle = 0.005
        while True:
            with self._driver_guard:
                if not self._driven:
                    self._driver = None
                    return
            report = None
            if self.lock.acquire(timeout=1.0):
                try:
                    report = engine.tick()
                except Exception:  # logged; the loop keeps the workflow's state in the store
                    logging.getLogger("hpcflow.client").exception("tick failed")
                    time.sleep(1.0)
                finally:
                    self.lock.release()
            with self._driver_guard:
                for wf_id in list(self._driven):
                    if self.store.workflow_status(wf_id) in FINAL_STATUSES:
                        self._driven.discard(wf_id)
            busy = report is not None and (report.launched or report.finished_units)
            idle = 0.005 if busy else min(0.2 if self.scheduler.name == "local" else 5.0, idle * 1.5)
            if waiter is not None and report is not None and report.inflight:
                waiter(idle if not busy else 0.05)
            elif report is not None and report.next_poll_at is not None:
                time.sleep(until_poll(report, 0.005, 5.0))
            elif not busy:
                time.sleep(idle)

    def wait(self, wf_id: str, timeout: float | None = None, interval: float | None = None) -> str:
        """Drive (or watch, if a daemon drives it) a workflow until it ends; return its status."""
        if self.is_driving(wf_id) or self.daemon_running():
            return self._watch(wf_id, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        local = self.scheduler.name == "local"
        min_sleep = 0.005 if local else 1.0
        max_sleep = interval or (0.2 if local else 10.0)
        sleep = min_sleep
        while True:
            status = self.store.workflow_status(wf_id)
            if status in FINAL_STATUSES:
                return status
            report = self.tick_once(only={wf_id})
            status = self.store.workflow_status(wf_id)
            if status in FINAL_STATUSES:
                return status
            if deadline is not None and time.monotonic() > deadline:
                return status
            busy = report is not None and (report.launched or report.finished_units)
            sleep = min_sleep if busy else min(max_sleep, sleep * 1.5)
            waiter = getattr(self.scheduler, "wait_for_change", None)
            if waiter is not None and report is not None:
                waiter(max_sleep)  # wakes as soon as a local job ends
            elif report is not None and report.next_poll_at is not None:
                time.sleep(until_poll(report, 0.05, max_sleep))  # the engine knows when to ask
            else:
                time.sleep(sleep)


def until_poll(report: Any, shortest: float, longest: float) -> float:
    """Seconds to sleep until the engine's next scheduler query is due (ticks before it
    would not ask the scheduler), within [shortest, longest]."""
    due: float = report.next_poll_at
    return min(longest, max(shortest, due - time.time()))


_clients: dict[tuple[str, str], Client | RemoteClient] = {}


def get_client(site: str | None = None, home: str | Path | None = None) -> Any:
    """The client for ``site`` (a site file; default: what the process settings name): a
    :class:`Client`, or a :class:`~hpcflow.remote.client.RemoteClient` for a remote site."""
    from hpcflow.engine.site_adapter import load_engine_site, remote_site_config

    config = settings.current()
    if site or home:
        config = config.but(site_file=site or config.site_file, home=Path(home) if home else config.home)
    key = (str(config.home), config.site_file or "")
    client = _clients.get(key)
    if client is None and (remote := remote_site_config(config)) is not None:
        from hpcflow.remote.client import RemoteClient

        client = _clients[key] = RemoteClient(remote, config.home)
    if client is None:
        found = load_engine_site(config)
        client = Client(Store(config.home / "hpcflow.db"), found.settings, found.scheduler,
                        found.name, found.work_area)
        _clients[key] = client
    return client


def reset_clients() -> None:
    """Forget cached clients and installed settings (tests switch HPCFLOW_HOME between cases)."""
    for c in _clients.values():
        close = getattr(c.store, "close", None)
        if close is not None:
            close()
    _clients.clear()
    settings.use(None)


_unwaited: dict[str, Client] = {}

#: Ids of the workflows this process submitted, in order (``hpcflow run`` reads it).
submitted_ids: list[str] = []


def remember_unwaited(wf_id: str, client: Client) -> None:
    """A local-mode workflow submitted by a script that never waits still runs to the end
    when the script exits, as Dflow's debug mode would have run it."""
    submitted_ids.append(wf_id)
    config = settings.current()
    if config.submit_only:
        return
    client.start_driving(wf_id)
    if getattr(client.scheduler, "name", None) == "local" and config.wait_at_exit:
        _unwaited[wf_id] = client


def forget_unwaited(wf_id: str) -> None:
    _unwaited.pop(wf_id, None)


@atexit.register
def _finish_unwaited() -> None:
    for wf_id, client in list(_unwaited.items()):
        _unwaited.pop(wf_id, None)
        try:
            client.wait(wf_id)
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass
