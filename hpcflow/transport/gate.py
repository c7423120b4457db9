"""Politeness towards a login node, shared by every hpcflow process of this user.

Centres lock accounts that open many connections in a burst or hold many sessions. So a
site gets at most ``max_channels`` commands at once (one lock file per slot, taken with
``flock``: it holds across processes and is released if a process dies) and at most one
*new connection* per ``new_connection_interval_s`` (a time stamp file under a lock).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hpcflow.errors import SshDisconnected
from hpcflow.private import private_file


class ConnectionGate:
    """Channel slots and the new-connection clock of one site (files in ``directory``)."""

    def __init__(self, directory: Path, name: str, max_channels: int, interval_s: float) -> None:
        self.directory = directory
        self.name = name
        self.max_channels = max_channels
        self.interval_s = interval_s
        self._local = threading.BoundedSemaphore(max_channels)

    @contextmanager
    def channel(self, timeout: float) -> Iterator[None]:
        """Hold one of the ``max_channels`` slots while a command runs."""
        deadline = time.monotonic() + timeout
        if not self._local.acquire(timeout=timeout):
            raise SshDisconnected(f"{self.name}: no free SSH channel within {timeout:.0f} s")
        fd = -1
        try:
            while fd < 0:
                for slot in range(self.max_channels):
                    candidate = self._try_slot(slot)
                    if candidate >= 0:
                        fd = candidate
                        break
                else:
                    if time.monotonic() > deadline:
                        raise SshDisconnected(
                            f"{self.name}: all {self.max_channels} SSH channels are busy "
                            f"(other hpcflow processes) for {timeout:.0f} s")
                    time.sleep(0.02)
            yield
        finally:
            if fd >= 0:
                os.close(fd)
            self._local.release()

    def _try_slot(self, slot: int) -> int:
        path = private_file(self.directory / f"{self.name}.channel-{slot}")
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return -1
        return fd

    def new_connection(self) -> None:
        """Record a connection attempt, or refuse it if the last one was too recent."""
        path = private_file(self.directory / f"{self.name}.last-connect")
        with open(path, "r+", encoding="ascii") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            text = fh.read().strip()
            now = time.time()
            last = float(text) if text else 0.0
            wait = self.interval_s - (now - last)
            if 0 < wait <= self.interval_s:
                raise SshDisconnected(
                    f"{self.name}: not connected; the next connection attempt is allowed in "
                    f"{wait:.0f} s (new_connection_interval_s = {self.interval_s:g})")
            fh.seek(0)
            fh.truncate()
            fh.write(f"{now}\n")
