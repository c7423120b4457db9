"""SlurmScheduler against the real single-node test cluster (scripts/slurm-test-cluster.sh)."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, Resources
from hpcflow.scheduler.slurm import COMMAND_COUNTS, SlurmScheduler
from hpcflow.transport import CommandResult, LocalTransport

pytestmark = pytest.mark.slurm

HOSTILE = ["it's", "$(touch PWNED)", "`touch PWNED2`", "new\nline", "ünï ✓", ""]
WRITE = (
    "import json, os, sys, time; t0 = time.time(); time.sleep(float(sys.argv[2])); "
    "json.dump({'argv': sys.argv[3:], 'env': os.environ.get('HF_VALUE'), "
    "'start': t0, 'end': time.time()}, open(f'out-{sys.argv[1]}.json', 'w')); "
    "sys.exit(int(sys.argv[1]) if sys.argv[1] == '3' else 0)"
)


def tag() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def wait_done(
    sched: SlurmScheduler, ids: Sequence[str], timeout: float = 90.0
) -> Mapping[str, JobStatus]:
    """Poll until every task left PENDING/RUNNING, checking one squeue per poll."""
    deadline = time.monotonic() + timeout
    while True:
        before = COMMAND_COUNTS["squeue"]
        status = sched.poll(ids)
        assert COMMAND_COUNTS["squeue"] - before == 1
        if not any(s.state.is_active for s in status.values()):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


@pytest.fixture
def sched() -> SlurmScheduler:
    return SlurmScheduler(LocalTransport())


def request(workdir: Path, n: int, sleep: float = 0.0, **kw: object) -> JobRequest:
    return JobRequest(
        tag=kw.pop("tag", tag()),  # type: ignore[arg-type]
        name="hostile name 'q' $(x)",
        workdir=workdir,
        tasks=tuple((sys.executable, "-c", WRITE, str(i), str(sleep), *HOSTILE) for i in range(n)),
        env={"HF_VALUE": "v 'q' $(touch PWNED3)\n"},
        resources=Resources(cpus=1, memory_mb=100, time_limit_s=120, partition="debug"),
        **kw,  # type: ignore[arg-type]
    )


def test_single_job(sched: SlurmScheduler, tmp_path: Path) -> None:
    workdir = tmp_path / "work dir 'q' $(x) ü"
    workdir.mkdir()
    job = sched.submit(request(workdir, 1))
    assert len(job.task_ids) == 1 and "_" not in job.task_ids[0]
    before = COMMAND_COUNTS["sacct"]
    status = wait_done(sched, job.task_ids)[job.task_ids[0]]
    assert COMMAND_COUNTS["sacct"] == before  # finished tasks are still in squeue -t all
    assert (status.state, status.exit_code, status.node) == (JobState.COMPLETED, 0, status.node)
    out = (workdir / "out-0.json").read_text(encoding="utf-8")
    got = json.loads(out)
    assert got["argv"] == HOSTILE and got["env"] == "v 'q' $(touch PWNED3)\n"
    assert (workdir / f"slurm-{job.task_ids[0]}.out").exists()
    assert not list(tmp_path.rglob("PWNED*"))


def test_array_with_throttle_and_failing_index(sched: SlurmScheduler, tmp_path: Path) -> None:
    job = sched.submit(request(tmp_path, 5, sleep=1.0, parallelism=2))
    base = job.task_ids[0].split("_")[0]
    assert job.task_ids == tuple(f"{base}_{i}" for i in range(5))
    status = wait_done(sched, job.task_ids)
    states = {tid: (s.state, s.exit_code) for tid, s in status.items()}
    expected = {f"{base}_{i}": (JobState.COMPLETED, 0) for i in range(5)}
    expected[f"{base}_3"] = (JobState.FAILED, 3)
    assert states == expected
    runs = [json.loads((tmp_path / f"out-{i}.json").read_text()) for i in range(5)]
    assert all(r["argv"] == HOSTILE for r in runs)
    # %2: never more than two tasks at once.
    for r in runs:
        overlapping = sum(1 for o in runs if o["start"] < r["end"] and r["start"] < o["end"])
        assert overlapping <= 2
    # one log pair for the whole array (appended to by every task), not one per task
    assert (tmp_path / f"slurm-{base}.err").exists()
    assert not list(tmp_path.glob(f"slurm-{base}_*"))


def test_cancel_running_and_pending(sched: SlurmScheduler, tmp_path: Path) -> None:
    single = sched.submit(request(tmp_path, 1, sleep=300))
    array = sched.submit(request(tmp_path, 4, sleep=300, parallelism=1))
    ids = [*single.task_ids, *array.task_ids]
    deadline = time.monotonic() + 30
    while sched.poll(single.task_ids)[single.task_ids[0]].state is not JobState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    before = COMMAND_COUNTS["scancel"]
    sched.cancel(ids)
    assert COMMAND_COUNTS["scancel"] - before == 1
    status = wait_done(sched, ids, timeout=30)
    assert {s.state for s in status.values()} == {JobState.CANCELLED}, status
    sched.cancel(ids)  # finished ids are ignored


def test_adopt_finds_jobs_by_tag(sched: SlurmScheduler, tmp_path: Path) -> None:
    array_tag, single_tag = tag(), tag()
    array = sched.submit(request(tmp_path, 3, tag=array_tag, parallelism=1))
    single = sched.submit(request(tmp_path, 1, tag=single_tag))
    fresh = SlurmScheduler(LocalTransport())  # as after a crash
    found = fresh.adopt([array_tag, single_tag, tag()])
    assert set(found) == {array_tag, single_tag}
    assert found[array_tag].task_ids == array.task_ids
    assert found[single_tag].task_ids == single.task_ids
    wait_done(sched, [*array.task_ids, *single.task_ids])
    assert fresh.adopt([array_tag])[array_tag].task_ids == array.task_ids


class NoAccountingTransport(LocalTransport):
    """A real cluster whose sacct reads a slurm.conf with accounting switched off."""

    def __init__(self, conf: Path) -> None:
        self.conf = conf

    def run(self, argv, *, input=None, timeout=60.0, env=None, cwd=None) -> CommandResult:  # noqa: A002
        if argv[0] == "sacct":
            env = {**os.environ, "SLURM_CONF": str(self.conf)}
        return super().run(argv, input=input, timeout=timeout, env=env, cwd=cwd)


def test_vanished_job_without_accounting_is_unknown(tmp_path: Path) -> None:
    conf = tmp_path / "slurm.conf"
    text = Path("/etc/slurm/slurm.conf").read_text()
    conf.write_text(
        "\n".join(
            "AccountingStorageType=accounting_storage/none"
            if line.startswith("AccountingStorageType=")
            else line
            for line in text.splitlines()
        )
    )
    sched = SlurmScheduler(NoAccountingTransport(conf))
    ids = ["999999990", "999999991_3"]
    status = sched.poll(ids)  # one squeue: gone from the queue is all a poll says
    assert {s.state for s in status.values()} == {JobState.UNKNOWN}
    assert "not in the queue" in status["999999990"].reason
    status = sched.describe(ids)  # what the engine asks before calling a job lost
    assert {s.state for s in status.values()} == {JobState.UNKNOWN}
    assert "accounting is disabled" in status["999999990"].reason


def test_array_split_at_max_array_size(tmp_path: Path) -> None:
    sched = SlurmScheduler(LocalTransport(), max_array_size=2)
    before = COMMAND_COUNTS["sbatch"]
    job = sched.submit(request(tmp_path, 5))
    assert COMMAND_COUNTS["sbatch"] - before == 3
    bases = sorted({t.split("_")[0] for t in job.task_ids}, key=int)
    assert len(bases) == 3 and len(job.task_ids) == 5
    status = wait_done(sched, job.task_ids)
    for i in range(5):  # every task list line ran exactly once, offsets applied
        assert json.loads((tmp_path / f"out-{i}.json").read_text())["argv"] == HOSTILE
    assert status[job.task_ids[3]].state is JobState.FAILED
