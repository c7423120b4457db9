"""The cluster itself fails under a running workflow: slurmctld stops for 20 s mid-array, and
the compute node crashes under running jobs (slurmd and the jobs killed, the node marked
down, then brought back). The workflows complete; a unit that lost its node is retried."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.chaos import cluster, report
from tests.chaos.markers import read_marks, tally
from tests.chaos.project import Project, tick_errors
from tests.chaos.workflows import array_script

pytestmark = [pytest.mark.slurm, pytest.mark.chaos]

CONTROLLER_DOWN_S = 20


def wait_for_marks(marker: Path, event: str, n: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        marks = [m for m in read_marks(marker) if m["event"] == event]
        if len(marks) >= n:
            return marks
        assert time.monotonic() < deadline, f"only {len(marks)} of {n} '{event}' marks in {timeout:.0f} s"
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_slurmctld_down_for_20_s_mid_array(project: Project, tmp_path: Path, rng: random.Random):
    marker = tmp_path / "marks"
    project.write("chaos_array.py", array_script(marker, nap=1.0, width=20, parallelism=5))
    ids = project.submit("chaos_array.py")
    project.start_daemon()
    started = wait_for_marks(marker, "start", rng.randint(2, 8), timeout=120)
    cluster.stop_controller()
    try:
        time.sleep(CONTROLLER_DOWN_S)
        assert not cluster.controller_up()
    finally:
        cluster.start_controller()
    statuses = project.wait(ids, timeout=180)
    project.stop_daemon()

    store = project.store()
    counts = tally(marker, store, ids)
    store.close()
    log = project.daemon_log_text()
    report.record(f"slurmctld stopped {CONTROLLER_DOWN_S} s mid-array (after {len(started)} slices "
                  "started)", statuses[ids[0]], units=len(counts.units), lost=len(counts.lost),
                  duplicates=counts.duplicates)
    assert statuses == {ids[0]: "Succeeded"}, log[-3000:]
    assert "scheduler unavailable" in log  # the daemon did meet the dead controller
    assert tick_errors(log) == []
    assert len(counts.units) == 21
    assert counts.lost == [] and counts.duplicates == 0, counts.describe()
    assert sum(counts.retried.values()) == 0, "no unit may fail because the controller was away"


@pytest.mark.timeout(300)
def test_node_crash_under_running_jobs_retries_them(project: Project, tmp_path: Path,
                                                   rng: random.Random):
    marker = tmp_path / "marks"
    gate = tmp_path / "gate"  # the slices run until the node has crashed under them
    project.write("chaos_array.py", array_script(marker, nap=0.0, width=4, gate=str(gate),
                                                 gated_slices=True))
    ids = project.submit("chaos_array.py")
    project.start_daemon()
    running = wait_for_marks(marker, "start", 4, timeout=120)
    cluster.crash_node([m["pid"] for m in running], reason="hpcflow_chaos_node_crash")
    time.sleep(rng.uniform(1, 5))
    cluster.start_node()
    gate.touch()
    statuses = project.wait(ids, timeout=180)
    project.stop_daemon()

    store = project.store()
    counts = tally(marker, store, ids)
    attempts = store.attempts(ids[0])
    store.close()
    report.record("node crash (slurmd and jobs killed, node down, resumed) under 4 running "
                  "slices", statuses[ids[0]], units=len(counts.units), lost=len(counts.lost),
                  duplicates=counts.duplicates)
    assert statuses == {ids[0]: "Succeeded"}, project.daemon_log_text()[-3000:]
    lost_node = [a for a in attempts if a["status"] == "failed"]
    assert {a["node_path"] for a in lost_node} == {f"square({i})" for i in range(4)}
    assert all(a["kind"] == "system" and "node" in a["message"] for a in lost_node), lost_node
    assert counts.lost == [] and counts.duplicates == 0, counts.describe()
    assert all(counts.ends[u] == 1 for u in counts.units)
    assert tick_errors(project.daemon_log_text()) == []
