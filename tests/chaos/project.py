"""A user's project, driven as a user drives it: workflow scripts in a project directory,
``hpcflow --site SITE submit wf.py`` run from there as a subprocess, the daemon started from
another directory, the state in a private ``HPCFLOW_HOME``.

Nothing here imports the engine: the test process only reads the store afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site-configs" / "slurm-test.toml"
FINAL = ("Succeeded", "Failed")


def hpcflow_command() -> list[str]:
    """The installed console script next to this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("hpcflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hpcflow.cli.main"]


class Project:
    """One project directory, one store, one site file."""

    def __init__(self, root: Path, site: Path | None = SITE) -> None:
        self.root = root
        self.dir = root / "project"
        self.home = root / "home"
        self.elsewhere = root / "elsewhere"  # where the daemon is started from
        for d in (self.dir, self.elsewhere):
            d.mkdir(parents=True, exist_ok=True)
        self.site = site
        self.daemon_pids: list[int] = []
        #: Directories put first on PATH (fault-injecting wrappers of Slurm commands).
        self.path_prefix: list[Path] = []
        self._reader: Any = None

    # ------------------------------------------------------------------------- commands

    def env(self) -> dict[str, str]:
        """The user's shell: no PYTHONPATH, no hpcflow variables but HPCFLOW_HOME."""
        env = {k: v for k, v in os.environ.items()
               if k != "PYTHONPATH" and not k.startswith("HPCFLOW_")}
        env["HPCFLOW_HOME"] = str(self.home)
        if self.path_prefix:
            env["PATH"] = os.pathsep.join([*map(str, self.path_prefix), env.get("PATH", "")])
        env.setdefault("USER", "root" if os.geteuid() == 0 else str(os.geteuid()))
        return env

    def argv(self, *args: str) -> list[str]:
        site = ["--site", str(self.site)] if self.site is not None else []
        return [*hpcflow_command(), *site, *args]

    def hpcflow(self, *args: str, cwd: Path | None = None, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``hpcflow [--site SITE] ARGS`` from the project directory (or ``cwd``)."""
        proc = subprocess.run(self.argv(*args), cwd=cwd or self.dir, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"hpcflow {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), cwd=cwd or self.dir, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text, encoding="utf-8")
        return path

    def submit(self, script: str, timeout: float = 120) -> list[str]:
        """``hpcflow submit SCRIPT`` from the project directory; the ids it printed."""
        return workflow_ids(self.hpcflow("submit", script, timeout=timeout).stdout)

    # --------------------------------------------------------------------------- daemon

    @property
    def pid_file(self) -> Path:
        return self.home / "daemon.pid"

    @property
    def daemon_log(self) -> Path:
        return self.home / "daemon.log"

    def daemon_alive(self) -> bool:
        """Does a daemon hold the store's lifetime lock (what ``daemon status`` asks)?"""
        from hpcflow.daemon import daemon_pid

        return daemon_pid(self.home) is not None

    def start_daemon(self) -> int:
        """``hpcflow daemon start`` from another directory; its pid, as the pid file says."""
        out = self.hpcflow("daemon", "start", cwd=self.elsewhere, timeout=60).stdout
        match = re.search(r"pid (\d+)", out)
        assert match, f"daemon start printed no pid: {out!r}"
        pid = int(self.pid_file.read_text().strip())
        assert pid == int(match.group(1)), f"daemon start said pid {match.group(1)}, pid file {pid}"
        self.daemon_pids.append(pid)
        return pid

    def kill_daemon(self, pid: int, timeout: float = 30) -> None:
        """``kill -9`` the daemon and wait until its locks are free."""
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while self.daemon_alive():
            assert time.monotonic() < deadline, f"daemon {pid} still holds its lock after SIGKILL"
            time.sleep(0.02)

    def stop_daemon(self) -> None:
        """``hpcflow daemon stop``; a daemon that does not stop is killed (test cleanup)."""
        if not self.home.exists():
            return
        proc = self.hpcflow("daemon", "stop", cwd=self.elsewhere, timeout=60, check=False)
        if self.daemon_alive() and self.daemon_pids:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
            if pid in self.daemon_pids and b"daemon\0run" in cmdline:
                self.kill_daemon(pid)
        assert proc.returncode == 0, f"hpcflow daemon stop: {proc.stdout}{proc.stderr}"

    def cleanup(self) -> None:
        """Stop the daemon and cancel what is still running (after a failed test)."""
        if self._reader is not None:
            self._reader.close()
        self.stop_daemon()
        if not (self.home / "hpcflow.db").exists():
            return
        store = self.store()
        try:
            active = list(store.active_revisions())
        finally:
            store.close()
        for wf_id in active:
            self.hpcflow("cancel", wf_id, cwd=self.elsewhere, check=False)

    # ---------------------------------------------------------------------------- store

    def store(self) -> Any:
        from hpcflow.store.db import Store

        return Store(self.home / "hpcflow.db")

    def statuses(self, ids: list[str]) -> dict[str, str]:
        store = self.store()
        try:
            return {i: store.workflow_status(i) for i in ids}
        finally:
            store.close()

    def wait(self, ids: list[str], timeout: float) -> dict[str, str]:
        """Poll the store until every workflow ended (or ``timeout``); their statuses."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses(ids)
            if all(s in FINAL for s in statuses.values()) or time.monotonic() > deadline:
                return statuses
            time.sleep(0.5)

    def unconfirmed_submissions(self) -> int:
        """Attempts recorded as submitting without a job id yet: the daemon is between
        committing an attempt and recording what ``sbatch`` answered (a read-only query)."""
        import sqlite3

        if self._reader is None:
            self._reader = sqlite3.connect(f"file:{self.home / 'hpcflow.db'}?mode=ro", uri=True,
                                           timeout=5, check_same_thread=False)
        row = self._reader.execute("SELECT count(*) FROM attempts WHERE status = 'submitting'"
                                   " AND job_id IS NULL").fetchone()
        return int(row[0])

    def outputs(self, wf_id: str) -> dict[str, Any]:
        """What ``hpcflow outputs ID`` prints, parsed."""
        import json

        return json.loads(self.hpcflow("outputs", wf_id).stdout)

    def daemon_log_text(self) -> str:
        return self.daemon_log.read_text(errors="replace") if self.daemon_log.exists() else ""


def workflow_ids(stdout: str) -> list[str]:
    """The workflow ids ``hpcflow submit`` printed, one a line."""
    return [line.strip() for line in stdout.splitlines() if re.fullmatch(r"[\w.-]+-[0-9a-f]{6}", line.strip())]


def tick_errors(log: str) -> list[str]:
    """Lines of a daemon log that say a tick crashed or the store was locked."""
    bad = ("tick failed", "Traceback", "database is locked", "cannot advance")
    return [line for line in log.splitlines() if any(b in line for b in bad)]
