"""A file lock so that ticks never overlap (daemon, cron tick, a script driving a workflow)."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from hpcflow.transport.local import inherit_in_commands


class TickLock:
    """An exclusive ``flock`` on ``path``; released when the holder exits or dies.

    With ``inherited_by_commands`` the commands run while it is held (``sbatch``,
    ``squeue``...) hold it too, until they end: the lock of a tick outlives a killed engine
    for as long as the commands that engine started are still running.
    """

    def __init__(self, path: Path, inherited_by_commands: bool = False) -> None:
        self.path = path
        self.inherited_by_commands = inherited_by_commands
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                _record_holder(fd)
                if self.inherited_by_commands:
                    inherit_in_commands(fd)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)

    def release(self) -> None:
        if self._fd is not None:
            if self.inherited_by_commands:
                inherit_in_commands(self._fd, on=False)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> TickLock:
        if not self.acquire(timeout=3600):
            raise TimeoutError(f"could not lock {self.path}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _record_holder(fd: int) -> None:
    """Write the holder's pid into the lock file (for whoever looks at it), unless it says
    so already: a process ticking in a loop then changes nothing on disk per tick (the
    truncate and write took ~2 ms a tick on a busy ext4, a journal transaction each)."""
    mine = f"{os.getpid()}\n".encode()
    if os.pread(fd, 64, 0) != mine:
        os.ftruncate(fd, 0)
        os.pwrite(fd, mine, 0)
