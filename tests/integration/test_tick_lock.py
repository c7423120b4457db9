"""The tick lock outlives a killed engine while a command that engine started still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hpcflow.engine.lock import TickLock

#: An engine that takes the tick lock and runs a slow command (a busy controller's sbatch).
ENGINE = """
import sys
from pathlib import Path
from hpcflow.engine.lock import TickLock
from hpcflow.transport import LocalTransport

lock = TickLock(Path(sys.argv[1]), inherited_by_commands={inherit})
assert lock.acquire()
print("locked", flush=True)
LocalTransport().run([sys.executable, "-c", "import time; time.sleep(3)"])
"""


def killed_engine_holding(lock_path: Path, inherit: bool) -> float:
    """Start the engine above, kill -9 it while its command runs; return the kill time."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(ENGINE.format(inherit=inherit)),
                             str(lock_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    time.sleep(0.3)  # the command is running
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.monotonic()


def test_a_killed_engines_command_still_holds_the_tick_lock(tmp_path: Path):
    lock_path = tmp_path / "engine.lock"
    killed = killed_engine_holding(lock_path, inherit=True)
    lock = TickLock(lock_path)
    assert not lock.acquire(timeout=1.0)  # the orphaned command still runs: no new tick yet
    assert lock.acquire(timeout=10.0)
    assert time.monotonic() - killed > 2.0
    lock.release()


def test_other_locks_die_with_their_holder(tmp_path: Path):
    lock_path = tmp_path / "daemon.lock"  # the daemon's lifetime lock is not passed on
    killed_engine_holding(lock_path, inherit=False)
    lock = TickLock(lock_path)
    assert lock.acquire(timeout=1.0)
    lock.release()


def test_the_lock_file_names_its_current_holder(tmp_path: Path):
    # The holder's pid is written only when the file does not say so already (a loop of
    # ticks then writes nothing): a previous holder's longer pid must still be replaced.
    path = tmp_path / "engine.lock"
    path.write_text("4194304999\n")  # a dead holder's pid, longer than ours
    lock = TickLock(path)
    for _ in range(3):
        assert lock.acquire()
        assert path.read_text() == f"{os.getpid()}\n"
        lock.release()
    other = subprocess.run([sys.executable, "-c", ENGINE_ONCE, str(path)], capture_output=True,
                           text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert path.read_text() == f"{other.stdout.strip()}\n"  # the other process's, whole
    assert lock.acquire()
    assert path.read_text() == f"{os.getpid()}\n"
    lock.release()


ENGINE_ONCE = """
import os, sys
from pathlib import Path
from hpcflow.engine.lock import TickLock

lock = TickLock(Path(sys.argv[1]))
assert lock.acquire()
lock.release()
print(os.getpid())
"""
