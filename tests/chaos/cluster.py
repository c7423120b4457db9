"""Faults of the single-node test cluster of scripts/slurm-test-cluster.sh, and its repair.

Daemons are found through the pid files that script writes (and checked by the command name
in /proc, so a reused pid is never signalled); nothing is ever killed by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(os.environ.get("SLURMTEST_ROOT", "/tmp/slurmtest"))
NODE = socket.gethostname().split(".")[0]
CTLD_PID = ROOT / "slurmctld.pid"
SLURMD_PID = ROOT / f"slurmd-{NODE}.pid"


def is_test_cluster() -> bool:
    """True on the cluster of scripts/slurm-test-cluster.sh, which these faults may break."""
    return CTLD_PID.exists() and SLURMD_PID.exists() and os.geteuid() == 0


def live_pid(pid_file: Path, command: str) -> int | None:
    """The pid in ``pid_file`` if that process runs ``command`` (not a reused pid)."""
    try:
        pid = int(pid_file.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm.startswith(command[:15]) and state != "Z" else None


def _run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    # From /: a daemon started here keeps its working directory, which must outlive the test.
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False, cwd="/")


def controller_up() -> bool:
    try:
        ping = _run("scontrol", "ping", timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return ping.returncode == 0 and "UP" in ping.stdout


def node_state() -> str:
    """``idle``, ``mix``, ``alloc``, ``down*``, ``drain``... as ``sinfo %t`` prints it ('' if unknown)."""
    try:
        return _run("sinfo", "--noheader", "-n", NODE, "-o", "%t", timeout=20).stdout.strip()
    except subprocess.TimeoutExpired:
        return ""


def _wait_for(what: str, ok, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def _stop(pid: int, timeout: float = 30) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state == "Z":
            return
        time.sleep(0.2)


# --------------------------------------------------------------------------- slurmctld


def stop_controller() -> None:
    """SIGTERM slurmctld (by its recorded pid) and wait until it is gone."""
    pid = live_pid(CTLD_PID, "slurmctld")
    assert pid is not None, f"no live slurmctld in {CTLD_PID}"
    _stop(pid)
    assert live_pid(CTLD_PID, "slurmctld") is None, "slurmctld did not stop"


def start_controller(timeout: float = 60) -> None:
    """Start slurmctld (as scripts/slurm-test-cluster.sh does) unless it runs; wait for it."""
    if live_pid(CTLD_PID, "slurmctld") is None:
        _run("slurmctld", timeout=60)
    _wait_for("slurmctld to answer", controller_up, timeout)


# ------------------------------------------------------------------------------ slurmd


def job_processes(pid: int) -> tuple[int | None, int | None]:
    """(slurmstepd pid, process group) of the job that process ``pid`` belongs to."""
    pgid = None
    try:
        pgid = os.getpgid(pid)
    except OSError:
        return None, None
    current = pid
    for _ in range(10):  # OP -> runtime -> batch script -> slurmstepd
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            return None, pgid
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm == "slurmstepd":
            return current, pgid
        current = int(stat.rsplit(")", 1)[1].split()[1])
        if current <= 1:
            break
    return None, pgid


def crash_node(job_pids: list[int], reason: str) -> None:
    """The compute node dies under running jobs: slurmd, and the slurmstepd and processes of
    each job that runs one of ``job_pids``, are SIGKILLed, and the node is marked DOWN (as
    slurmctld would after SlurmdTimeout, which on the test cluster is minutes)."""
    slurmd = live_pid(SLURMD_PID, "slurmd")
    assert slurmd is not None, f"no live slurmd in {SLURMD_PID}"
    jobs = [job_processes(pid) for pid in job_pids]
    assert all(stepd is not None for stepd, _ in jobs), f"not all of {job_pids} run in Slurm jobs"
    assert all(pgid not in (None, 0, 1, os.getpgrp()) for _, pgid in jobs), jobs
    os.kill(slurmd, signal.SIGKILL)
    for stepd, pgid in jobs:
        os.kill(stepd, signal.SIGKILL)  # type: ignore[arg-type]
        try:
            os.killpg(pgid, signal.SIGKILL)  # type: ignore[arg-type]
        except ProcessLookupError:
            pass
    down = _run("scontrol", "update", f"nodename={NODE}", "state=down", f"reason={reason}")
    assert down.returncode == 0, down.stderr


def start_node(timeout: float = 90) -> None:
    """Start slurmd unless it runs, and bring the node back (``state=resume`` if it stays
    down or drained; ReturnToService=2 usually returns it on its own)."""
    if live_pid(SLURMD_PID, "slurmd") is None:
        _run("slurmd", timeout=60)

    def usable() -> bool:
        state = node_state()
        if state.startswith(("down", "drain", "drng", "fail")):
            _run("scontrol", "update", f"nodename={NODE}", "state=resume")
            return False
        return state in ("idle", "mix", "alloc", "comp")  # "idle*" = not responding

    _wait_for(f"node {NODE} to come back", usable, timeout)


def restore() -> None:
    """Whatever a test broke: the controller answers and the node takes jobs again."""
    start_controller()
    start_node()
