"""Four ``hpcflow submit`` processes at once while the daemon ticks, and another process
holding the store's write lock for 10 s: nothing is lost, ``database is locked`` never
reaches the user (the stderr of every process, the daemon's log), and ``hpcflow list``
answers while the lock is held."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.chaos import report
from tests.chaos.markers import tally
from tests.chaos.project import Project, tick_errors, workflow_ids
from tests.chaos.workflows import array_script

pytestmark = [pytest.mark.slurm, pytest.mark.chaos]

LOCK_S = 10
SUBMITTERS = 4
COPIES = 3  # workflows per submitting script

#: Takes the write lock as a second program would (an sqlite3 shell, a backup tool), writes,
#: and holds the transaction open.
LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE workflows SET updated_at = updated_at")
print("locked", time.time(), flush=True)
time.sleep(float(sys.argv[2]))
released = time.time()
conn.execute("COMMIT")
print("released", released, flush=True)
"""


def hold_write_lock(db: Path, seconds: float) -> tuple[subprocess.Popen[str], float]:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LOCKER), str(db), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("locked"), line + proc.stderr.read()  # type: ignore[union-attr]
    return proc, float(line.split()[1])


LOCKED_OUT = ("database is locked", "Traceback", "OperationalError")


@pytest.mark.timeout(300)
def test_concurrent_submits_and_a_held_write_lock(project: Project, tmp_path: Path,
                                                  rng: random.Random):
    marker = tmp_path / "marks"
    project.write("busy.py", array_script(marker, nap=0.5, width=10, parallelism=3, name="busy"))
    busy = project.submit("busy.py")
    for k in range(SUBMITTERS):
        project.write(f"wf{k}.py", array_script(marker, nap=0.0, width=3, name=f"sub{k}", copies=COPIES))
    project.start_daemon()  # ticking the busy workflow while everything below happens
    time.sleep(rng.uniform(0.5, 3.0))

    locker, locked_at = hold_write_lock(project.home / "hpcflow.db", LOCK_S)
    time.sleep(rng.uniform(0.0, 2.0))
    submitters = [project.popen("submit", f"wf{k}.py") for k in range(SUBMITTERS)]
    listing = project.hpcflow("list", "--json", cwd=project.elsewhere, timeout=60)
    listed_at = time.time()  # a reader does not wait for the writer
    outs = [p.communicate(timeout=120) for p in submitters]
    submitted_at = time.time()
    lock_out, lock_err = locker.communicate(timeout=60)
    released_at = float(lock_out.split()[-1])
    ids = [i for out, _ in outs for i in workflow_ids(out)]
    statuses = project.wait(busy + ids, timeout=180)
    project.stop_daemon()

    store = project.store()
    counts = tally(marker, store, busy + ids)
    stored = {w["id"] for w in store.list_workflows(limit=1000)}
    store.close()
    log = project.daemon_log_text()
    report.record(f"{SUBMITTERS} concurrent submits + a write lock held {LOCK_S} s",
                  f"{sum(s == 'Succeeded' for s in statuses.values())}/{len(statuses)} Succeeded",
                  units=len(counts.units), lost=len(counts.lost), duplicates=counts.duplicates)
    assert locker.returncode == 0, lock_err
    assert released_at - locked_at >= LOCK_S and submitted_at >= released_at  # they had to wait
    assert listed_at < released_at and busy[0] in listing.stdout, listing.stdout + listing.stderr
    for proc, (out, err) in zip(submitters, outs, strict=True):
        assert proc.returncode == 0, out + err
        assert not any(b in out + err for b in LOCKED_OUT), out + err
    assert len(ids) == len(set(ids)) == SUBMITTERS * COPIES
    assert set(busy + ids) <= stored
    assert statuses == {i: "Succeeded" for i in busy + ids}, log[-3000:]
    assert tick_errors(log) == [], tick_errors(log)
    assert not any(b in log for b in LOCKED_OUT)
    assert len(counts.units) == 11 + SUBMITTERS * COPIES * 4
    assert counts.lost == [] and counts.duplicates == 0, counts.describe()
