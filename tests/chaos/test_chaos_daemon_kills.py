"""``kill -9`` of the daemon at random moments, at least 20 times, while a 60-slice array and a
3-iteration recursive loop run on Slurm: every unit runs exactly once, nothing is stuck, and
the results are those of a fault-free run."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests.chaos import report
from tests.chaos.markers import tally
from tests.chaos.project import FINAL, Project
from tests.chaos.workflows import array_script, loop_script

pytestmark = [pytest.mark.slurm, pytest.mark.chaos]

MIN_KILLS = 20
#: How long a daemon lives before its kill -9: from "just started" to a few ticks.
LIFE_S = (0.0, 2.5)
#: How long an aimed kill waits for the daemon to start submitting something.
AIM_WAIT_S = 6.0


#: The real sbatch behind a slow controller: it reaches Slurm 2 s late (a daemon killed
#: meanwhile leaves it running, and the next daemon must not resubmit before it lands), and
#: its answer comes back half a second after the job exists, when an aimed kill strikes.
SLOW_SBATCH = """#!/bin/sh
sleep 2
out=$({sbatch} "$@")
rc=$?
sleep 0.5
printf '%s\\n' "$out"
exit $rc
"""


def slow_sbatch(bin_dir: Path) -> Path:
    real = shutil.which("sbatch")
    assert real is not None
    bin_dir.mkdir()
    shim = bin_dir / "sbatch"
    shim.write_text(SLOW_SBATCH.format(sbatch=real))
    shim.chmod(0o755)
    return bin_dir


def fault_free_outputs(tmp_path: Path) -> dict[str, dict]:
    """The same two workflows run without faults (local mode, no naps): their outputs."""
    ref = Project(tmp_path / "reference", site=None)
    marker = ref.root / "marks"
    ref.write("chaos_array.py", array_script(marker, nap=0.0))
    ref.write("chaos_loop.py", loop_script(marker, nap=0.0))
    outputs = {}
    for script in ("chaos_array.py", "chaos_loop.py"):
        proc = ref.hpcflow("run", script, timeout=120)
        wf_id = proc.stdout.split()[0]
        out = ref.outputs(wf_id)
        assert out["status"] == "Succeeded", out
        outputs[script] = {"outputs": out["outputs"], "steps": out["steps"]}
    return outputs


def kill_loop(project: Project, ids: list[str], gate: Path, rng: random.Random,
              timeout: float) -> list[tuple[float, bool]]:
    """Start the daemon, kill -9 it, again and again while the workflows run; the array's
    last step waits for ``gate``, opened after MIN_KILLS kills, so the workflows cannot all
    end before the kills are done.

    Half the kills come after a random life; the other half are aimed at the riskiest moment,
    just after the daemon committed an attempt and while it runs ``sbatch`` for it. Returns,
    for each kill, the daemon's life and whether it died with a submission unconfirmed.
    """
    kills: list[tuple[float, bool]] = []
    deadline = time.monotonic() + timeout
    while True:
        if len(kills) >= MIN_KILLS and not gate.exists():
            gate.touch()
        if all(s in FINAL for s in project.statuses(ids).values()):
            return kills
        assert time.monotonic() < deadline, (
            f"workflows still running after {len(kills)} kills and {timeout:.0f} s: "
            f"{project.statuses(ids)}")
        pid = project.start_daemon()
        born = time.monotonic()
        if rng.random() < 0.5:
            time.sleep(rng.uniform(*LIFE_S))
        else:
            aim = born + AIM_WAIT_S  # the loop submits every few seconds
            while project.unconfirmed_submissions() == 0 and time.monotonic() < aim:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.4))  # before or after Slurm took the job
        project.kill_daemon(pid)
        unconfirmed = project.unconfirmed_submissions() > 0
        if all(s in FINAL for s in project.statuses(ids).values()):
            return kills  # this daemon saw the end: not a kill "across the workflows"
        kills.append((time.monotonic() - born, unconfirmed))
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.5, 3.0))  # jobs finish while no daemon watches


@pytest.mark.timeout(420)
def test_kill_9_daemon_at_random_moments(project: Project, tmp_path: Path, rng: random.Random):
    expected = fault_free_outputs(tmp_path)
    project.path_prefix.append(slow_sbatch(tmp_path / "slow-bin"))
    marker = tmp_path / "marks"
    gate = tmp_path / "gate"
    project.write("chaos_array.py", array_script(marker, nap=0.5, gate=str(gate), parallelism=10))
    project.write("chaos_loop.py", loop_script(marker, nap=0.5))
    ids = project.submit("chaos_array.py") + project.submit("chaos_loop.py")
    assert len(ids) == 2

    kills = kill_loop(project, ids, gate, rng, timeout=300)
    mid_submit = sum(unconfirmed for _, unconfirmed in kills)
    project.start_daemon()  # the last one is left to finish the work
    statuses = project.wait(ids, timeout=180)
    project.stop_daemon()

    store = project.store()
    counts = tally(marker, store, ids)
    store.close()
    results = {script: {k: v for k, v in project.outputs(wf_id).items() if k in ("outputs", "steps")}
               for script, wf_id in zip(("chaos_array.py", "chaos_loop.py"), ids, strict=True)}
    report.record("kill -9 of the daemon over a 60-slice array and a 3-iteration loop",
                  ", ".join(statuses.values()), units=len(counts.units), lost=len(counts.lost),
                  duplicates=counts.duplicates, kills=len(kills),
                  note=f"{mid_submit} kills left a submission unconfirmed (sbatch in flight)")
    print(f"kills (life s, submission unconfirmed): {[(round(t, 2), u) for t, u in kills]}")
    assert statuses == {i: "Succeeded" for i in ids}, project.daemon_log_text()[-3000:]
    assert len(kills) >= MIN_KILLS
    assert mid_submit >= 1, "no kill hit a submission in flight: adoption went untested"
    assert len(counts.units) == 61 + 3 * 5  # 60 slices + total, 3 x (grow + 3 spread + fold)
    assert counts.lost == [] and counts.duplicates == 0, counts.describe()
    assert sum(counts.retried.values()) == 0, f"attempts failed: {counts.retried}"
    assert results == expected
