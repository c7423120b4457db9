"""Parsers and the state table against output recorded from the real test cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.errors import SchedulerError, SchedulerUnavailable, SubmissionDeferred
from hpcflow.scheduler.base import JobRequest, JobState
from hpcflow.scheduler.slurm import argv as A
from hpcflow.scheduler.slurm import parse as P
from hpcflow.scheduler.slurm.backend import SlurmScheduler
from hpcflow.scheduler.slurm.states import to_job_state
from hpcflow.transport import CommandResult

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def by_id(rows: list[P.QueueRow]) -> dict[str, P.QueueRow]:
    return {row.task_id: row for row in rows}


def test_sbatch_plain_and_with_cluster() -> None:
    assert P.parse_sbatch(fixture("sbatch-parsable.txt")) == "27"
    assert P.parse_sbatch(fixture("sbatch-parsable-cluster.txt")) == "28"


@pytest.mark.parametrize("text", ["", "\n", "Submitted batch job 12\n", "abc;x"])
def test_sbatch_garbage_is_an_error(text: str) -> None:
    with pytest.raises(SchedulerError):
        P.parse_sbatch(text)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("123", ["123"]),
        ("123_4", ["123_4"]),
        ("123_[4-7%2]", ["123_4", "123_5", "123_6", "123_7"]),
        ("123_[1,3-4%1]", ["123_1", "123_3", "123_4"]),
        ("123_[0-6:3]", ["123_0", "123_3", "123_6"]),
        ("123_[9]", ["123_9"]),
    ],
)
def test_expand_job_ids(field: str, expected: list[str]) -> None:
    assert P.expand_job_ids(field) == expected


def test_squeue_active_expands_pending_ranges() -> None:
    rows = by_id(P.parse_squeue(fixture("squeue-active.txt")))
    assert {f"29_{i}" for i in range(8)} <= rows.keys()
    assert rows["29_5"].state is JobState.PENDING
    assert rows["29_5"].reason == "JobArrayTaskLimit"
    assert rows["29_5"].node is None and rows["29_5"].exit_code is None
    assert rows["29_3"].state is JobState.RUNNING and rows["29_3"].node == "vm"
    assert rows["29_0"].state is JobState.COMPLETED and rows["29_0"].exit_code == 0
    # A job name containing "|" still leaves the comment (and so the tag) intact.
    assert rows["29_0"].name == "fx array|pipe~fx-array"
    assert rows["29_0"].comment == "hpcflow:fx-array"
    assert rows["30"].comment == ""


def test_squeue_finished_states_and_exit_codes() -> None:
    rows = by_id(P.parse_squeue(fixture("squeue-finished.txt")))
    assert rows["29_3"].state is JobState.FAILED and rows["29_3"].exit_code == 7
    assert rows["29_7"].state is JobState.COMPLETED and rows["29_7"].exit_code == 0
    assert rows["7"].state is JobState.TIMEOUT and rows["7"].reason == "TimeLimit"
    assert rows["30"].state is JobState.CANCELLED and rows["30"].exit_code == 143
    assert rows["31_4"].state is JobState.CANCELLED
    assert "31_2" not in rows  # a pending task cancelled alone vanishes


def test_sacct_finished() -> None:
    rows = by_id(P.parse_sacct(fixture("sacct-finished.txt")))
    assert rows["1"].state is JobState.CANCELLED and rows["1"].slurm_state == "CANCELLED by 0"
    assert rows["29_3"].state is JobState.FAILED and rows["29_3"].exit_code == 7
    assert rows["29_0"].exit_code == 0 and rows["29_0"].name == "fx array|pipe~fx-array"
    assert rows["7"].state is JobState.TIMEOUT
    assert rows["31_3"].state is JobState.CANCELLED and rows["31_3"].node is None
    assert "31_2" not in rows


def test_sacct_active_lags_behind_the_queue() -> None:
    rows = by_id(P.parse_sacct(fixture("sacct-active.txt")))
    assert set(rows) == {"30"}
    assert rows["30"].state is JobState.PENDING


def test_sacct_skips_steps_and_handles_signals() -> None:
    text = "5|FAILED|2:0|None|n1|a\n5.batch|FAILED|2:0|||batch\n6|CANCELLED|0:9|None|n1|b\n"
    rows = by_id(P.parse_sacct(text))
    assert set(rows) == {"5", "6"}
    assert rows["5"].exit_code == 2 and rows["6"].exit_code == 137


def test_wait_status() -> None:
    assert P.parse_wait_status("1792") == 7
    assert P.parse_wait_status("15") == 143
    assert P.parse_wait_status("0") == 0
    assert P.parse_wait_status("") is None


@pytest.mark.parametrize(
    ("slurm", "state"),
    [
        ("PENDING", JobState.PENDING),
        ("CANCELLED by 0", JobState.CANCELLED),
        ("CANCELLED by 1000", JobState.CANCELLED),
        ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY),
        ("OUT_OF_ME+", JobState.OUT_OF_MEMORY),
        ("TIMEOUT", JobState.TIMEOUT),
        ("DEADLINE", JobState.TIMEOUT),
        ("NODE_FAIL", JobState.NODE_FAIL),
        ("PREEMPTED", JobState.PREEMPTED),
        ("BOOT_FAIL", JobState.BOOT_FAIL),
        ("COMPLETING", JobState.RUNNING),
        ("REQUEUED", JobState.PENDING),
        ("SUSPENDED", JobState.RUNNING),
        ("CD", JobState.COMPLETED),
        ("SOMETHING_NEW", JobState.UNKNOWN),
    ],
)
def test_state_table(slurm: str, state: JobState) -> None:
    assert to_job_state(slurm) is state


def test_error_classification_from_recorded_stderr() -> None:
    assert P.is_accounting_disabled(fixture("sacct-accounting-disabled.stderr"))
    assert P.is_controller_down(fixture("squeue-controller-down.stderr"))
    assert P.is_invalid_job_id(fixture("squeue-invalid-job-id.stderr"))
    invalid = fixture("sbatch-invalid-partition.stderr")
    assert not P.is_submit_limit(invalid) and not P.is_controller_down(invalid)


@pytest.mark.parametrize(
    "stderr",
    [
        "sbatch: error: QOSMaxSubmitJobPerUserLimit\n"
        "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        "(job submit limit, user's size and/or time limits)",
        "sbatch: error: AssocMaxSubmitJobLimit",
        "sbatch: error: Batch job submission failed: Resource temporarily unavailable",
    ],
)
def test_submit_limits(stderr: str) -> None:
    assert P.is_submit_limit(stderr)


def test_scontrol_config_and_sinfo() -> None:
    config = P.parse_scontrol_config(fixture("scontrol-show-config.txt"))
    assert P.parse_max_array_size(config) == 100001
    assert config["ClusterName"] == "testcluster"
    parts = P.parse_sinfo_partitions(fixture("sinfo-partitions.txt"))
    assert parts == {"debug": {"avail": "up", "timelimit": "infinite", "default": "yes"}}


def test_argv_builders() -> None:
    assert A.array_spec(5, 2) == "0-4%2"
    assert A.array_spec(1, None) == "0-0"
    assert A.squeue_argv(["12_0", "12_1", "13"])[-2:] == ["-j", "12,13"]
    assert A.sacct_argv(None, since="2026-01-01T00:00:00")[-2:] == ["-S", "2026-01-01T00:00:00"]
    argv = A.sbatch_argv("/w d/s.sh", workdir="/w d", array="0-4%2", offset=7)
    assert argv == ["sbatch", "--parsable", "--chdir=/w d", "--array=0-4%2", "/w d/s.sh", "7"]
    assert A.scancel_argv(["1_2", "3"]) == ["scancel", "1_2", "3"]


# --- backend decisions on recorded answers (a scripted Transport; real Slurm in tests/slurm) ---


class Scripted:
    """A Transport that answers each command name with a recorded result."""

    def __init__(self, **answers: tuple[int, str, str]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def run(self, argv, *, input=None, timeout=60.0, env=None, cwd=None) -> CommandResult:  # noqa: A002
        self.calls.append(list(argv))
        rc, out, err = self.answers[argv[0]]
        return CommandResult(tuple(argv), rc, out, err)


def test_poll_controller_down_raises_unavailable() -> None:
    transport = Scripted(squeue=(1, "", fixture("squeue-controller-down.stderr")))
    with pytest.raises(SchedulerUnavailable):
        SlurmScheduler(transport).poll(["29_3"])


def test_poll_is_one_squeue_and_describe_asks_sacct_only_for_missing() -> None:
    transport = Scripted(
        squeue=(0, fixture("squeue-finished.txt"), ""),
        sacct=(1, "", fixture("sacct-accounting-disabled.stderr")),
    )
    ids = ["29_3", "29_0", "31_2", "40_1"]
    status = SlurmScheduler(transport).poll(ids)
    queries = [c for c in transport.calls if c[1:] != ["--version"]]  # the client's version: no RPC
    assert [c[0] for c in queries] == ["squeue"]  # one status command per poll
    assert status["29_3"].state is JobState.FAILED and status["29_3"].exit_code == 7
    assert status["31_2"].state is JobState.UNKNOWN and "not in the queue" in status["31_2"].reason
    transport.calls.clear()
    status = SlurmScheduler(transport).describe(ids)
    queries = [c for c in transport.calls if c[1:] != ["--version"]]
    assert [c[0] for c in queries] == ["squeue", "sacct"]
    assert queries[1][-2:] == ["-j", "31,40"]
    assert status["31_2"].state is JobState.UNKNOWN
    assert "accounting is disabled" in status["31_2"].reason


def test_poll_array_remainder_record_and_unknown_ids() -> None:
    squeue = (
        "40|CANCELLED|JobArrayTaskLimit|0||wrap|(null)\n40_0|CANCELLED|None|15|vm|wrap|(null)\n"
    )
    transport = Scripted(squeue=(0, squeue, ""))
    status = SlurmScheduler(transport).poll(["40_0", "40_4"])
    assert {s.state for s in status.values()} == {JobState.CANCELLED}
    transport = Scripted(squeue=(1, "", fixture("squeue-invalid-job-id.stderr")), sacct=(0, "", ""))
    status = SlurmScheduler(transport).poll(["999"])
    assert status["999"].state is JobState.UNKNOWN


def test_submit_limit_defers(tmp_path: Path) -> None:
    limit = "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy"
    transport = Scripted(sbatch=(1, "", limit))
    job = JobRequest(tag="t1", name="n", workdir=tmp_path, tasks=(("true",),))
    with pytest.raises(SubmissionDeferred):
        SlurmScheduler(transport).submit(job)
    transport = Scripted(sbatch=(1, "", fixture("sbatch-invalid-partition.stderr")))
    with pytest.raises(SchedulerError) as info:
        SlurmScheduler(transport).submit(job)
    assert not isinstance(info.value, SubmissionDeferred)
    assert "Invalid partition" in str(info.value)


def test_a_pending_range_is_one_row_and_one_status() -> None:
    """A held 100,000-task array is one squeue line; its tasks share one row and one status
    (100,000 objects per poll would cost the tracking tick most of its time)."""
    line = "123_[0-99999]|PENDING|JobHeldUser|0|(null)|hpcflow.x~t|hpcflow:t\n"
    index = P.squeue_index(line)
    assert len(index) == 100_000 and index["123_0"] is index["123_99999"]
    assert index["123_7"].reason == "JobHeldUser" and index["123_7"].task_id == "123_[0-99999]"
    assert [r.task_id for r in P.parse_squeue(line)[:2]] == ["123_0", "123_1"]  # expanded
    status = SlurmScheduler(Scripted(squeue=(0, line, ""))).poll(["123_3", "123_4", "124"])
    assert status["123_3"] is status["123_4"] and status["123_3"].state is JobState.PENDING
    assert status["124"].state is JobState.UNKNOWN
