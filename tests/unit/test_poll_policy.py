"""Adaptive polling: the pure policy, simulated hours of ticks, and the squeue argv choice."""

from __future__ import annotations

import pytest

from hpcflow.engine.poll_policy import PollClock, PollPolicy, next_poll_due, typical_runtime
from hpcflow.scheduler.base import JobState
from hpcflow.scheduler.slurm import argv as A
from hpcflow.scheduler.slurm import parse as P
from hpcflow.scheduler.slurm.backend import SlurmScheduler
from hpcflow.transport import CommandResult

POLICY = PollPolicy(min_s=1.0, max_s=30.0)


def test_never_polled_is_due_at_once() -> None:
    assert next_poll_due(POLICY, last_poll=None, last_change=0.0) == float("-inf")


def test_a_submission_after_the_last_poll_is_asked_about_one_second_later() -> None:
    assert next_poll_due(POLICY, last_poll=100.0, last_change=500.0) == 501.0


def test_gaps_grow_geometrically_while_nothing_changes_up_to_poll_max() -> None:
    t, polls = 0.0, [0.0]
    for _ in range(9):
        t = next_poll_due(POLICY, last_poll=t, last_change=0.0)
        polls.append(t)
    assert polls == [0, 1, 2, 4, 8, 16, 32, 62, 92, 122]
    assert next_poll_due(PollPolicy(max_s=5.0), last_poll=100.0, last_change=0.0) == 105.0


def test_an_expected_end_brings_the_next_poll_forward_once() -> None:
    # quiet for 300 s: the next poll would be 30 s away, but a job is due to end in 7 s
    assert next_poll_due(POLICY, last_poll=300.0, last_change=0.0, expected_ends=[307.0]) == 307.0
    # an end already passed (polled after it) no longer counts
    assert next_poll_due(POLICY, last_poll=310.0, last_change=0.0, expected_ends=[307.0]) == 340.0
    # an end closer than the shortest gap waits for the shortest gap
    assert next_poll_due(POLICY, last_poll=300.0, last_change=0.0, expected_ends=[300.2]) == 301.0


def test_typical_runtime_is_the_median() -> None:
    assert typical_runtime([]) is None
    assert typical_runtime([10.0, 2.0, 3.0]) == 3.0


def simulate(duration: float, states, tick: float = 0.1, expected_end: float | None = None,
             submit_at: float = 0.0) -> list[float]:
    """Tick every ``tick`` s from ``submit_at`` to ``duration``; return the poll times.
    ``states(t)`` is the queue's answer at time t (job id -> state)."""
    clock = PollClock(POLICY)
    clock.polled(-100.0, {})  # an engine that has been running (not a fresh process)
    polls = []
    t = submit_at
    ends = [expected_end] if expected_end is not None else []
    while t <= duration:
        answer = states(t)
        clock.note_jobs(answer, t)
        if clock.due(t, ends):
            clock.polled(t, answer)
            polls.append(t)
        t = round(t + tick, 6)
    return polls


def one_hour_job(t: float) -> dict[str, str]:
    return {"7": "PENDING" if t < 20 else "RUNNING" if t < 3600 else "COMPLETED"}


def test_a_one_hour_job_costs_at_most_150_status_calls() -> None:
    polls = simulate(3605.0, one_hour_job)
    assert len(polls) <= 150
    assert polls[0] <= 1.0  # asked soon after the submission
    assert max(b - a for a, b in zip(polls, polls[1:], strict=False)) <= 30.0 + 1e-6
    assert polls[-1] >= 3600.0  # its end was seen, at most poll_max_s late


def test_a_recorded_runtime_makes_the_end_seen_within_a_second() -> None:
    polls = simulate(3605.0, one_hour_job, expected_end=3600.0)
    assert len(polls) <= 150
    assert any(3600.0 <= p <= 3601.0 for p in polls)


def test_w1_like_waves_stay_under_twenty_queries() -> None:
    # 200 tasks, 32 at a time, a wave ending every 2.5 s: 7 waves in 17.5 s.
    def waves(t: float) -> dict[str, str]:
        done = min(200, int(t / 2.5) * 32)
        return {f"5_{i}": "COMPLETED" if i < done else "RUNNING" for i in range(200)}

    polls = simulate(19.0, waves)
    assert len(polls) <= 20
    assert any(17.5 <= p <= 19.5 for p in polls)  # the last wave was seen within two seconds


def test_a_fresh_process_polls_at_once() -> None:
    clock = PollClock(POLICY)
    clock.note_jobs(["1"], 50.0)
    assert clock.due(50.0)


# ------------------------------------------------------------------ squeue --only-job-state


def test_version_decides_the_argv() -> None:
    assert P.parse_slurm_version("slurm-wlm 22.05.8\n") == (22, 5)
    assert P.parse_slurm_version("slurm 23.11.4") == (23, 11)
    assert P.parse_slurm_version("garbage") is None
    assert not A.supports_only_job_state((22, 5))
    assert not A.supports_only_job_state(None)
    assert A.supports_only_job_state((23, 2)) and A.supports_only_job_state((24, 11))
    assert "--only-job-state" not in A.squeue_argv(["5_1"])
    fast = A.squeue_argv(["5_1", "5_2"], states_only=True)
    assert "--only-job-state" in fast
    assert fast[fast.index("-O") + 1] == P.SQUEUE_STATE_FORMAT
    assert fast[-2:] == ["-j", "5"]


class FakeSlurm:
    """A transport answering like a Slurm client of the given version."""

    def __init__(self, version: str, fast_ok: bool = True) -> None:
        self.version = version
        self.fast_ok = fast_ok
        self.calls: list[list[str]] = []

    def run(self, argv, *, input=None, timeout=60.0, env=None, cwd=None) -> CommandResult:  # noqa: A002
        argv = list(argv)
        self.calls.append(argv)
        if argv[1:] == ["--version"]:
            return CommandResult(tuple(argv), 0, self.version, "")
        if "--only-job-state" in argv:
            if not self.fast_ok:
                return CommandResult(tuple(argv), 1, "", "squeue: unrecognized option '--only-job-state'")
            return CommandResult(tuple(argv), 0, "5_0|COMPLETED\n5_[1-2]|PENDING\n", "")
        full = "5_0|COMPLETED|None|0|vm|n~t|hpcflow:t\n5_[1-2]|PENDING|Priority|0||n~t|hpcflow:t\n"
        return CommandResult(tuple(argv), 0, full, "")


def queries(transport: FakeSlurm) -> list[list[str]]:
    return [c for c in transport.calls if c[1:] != ["--version"]]


def test_old_slurm_polls_with_the_full_format() -> None:
    transport = FakeSlurm("slurm-wlm 22.05.8")
    sched = SlurmScheduler(transport)
    for _ in range(3):
        status = sched.poll(["5_0", "5_1", "5_2"])
    assert status["5_0"].state is JobState.COMPLETED and status["5_0"].exit_code == 0
    assert sched.states_only is False
    assert all("--only-job-state" not in c for c in queries(transport))
    assert len(transport.calls) - len(queries(transport)) == 1  # the version asked once


def test_new_slurm_polls_states_only_after_one_check() -> None:
    transport = FakeSlurm("slurm 23.11.4")
    sched = SlurmScheduler(transport)
    for _ in range(3):
        status = sched.poll(["5_0", "5_1", "5_2"])
    assert status["5_1"].state is JobState.PENDING and status["5_0"].state is JobState.COMPLETED
    fast = ["--only-job-state" in c for c in queries(transport)]
    assert fast == [True, False, True, True]  # the first answer was checked against a full one
    assert sched.states_only is True


@pytest.mark.parametrize("fast_ok", [False])
def test_a_refused_option_falls_back_for_good(fast_ok: bool) -> None:
    transport = FakeSlurm("slurm 23.11.4", fast_ok=fast_ok)
    sched = SlurmScheduler(transport)
    for _ in range(3):
        status = sched.poll(["5_0", "5_1", "5_2"])
    assert status["5_2"].state is JobState.PENDING
    assert sched.states_only is False
    assert ["--only-job-state" in c for c in queries(transport)] == [True, False, False, False]


def test_describe_gives_exit_codes_even_in_states_only_mode() -> None:
    transport = FakeSlurm("slurm 23.11.4")
    sched = SlurmScheduler(transport)
    sched.poll(["5_0"])
    sched.poll(["5_0"])
    assert sched.states_only is True and sched.poll(["5_0"])["5_0"].exit_code is None
    assert sched.describe(["5_0"])["5_0"].exit_code == 0
    assert "--only-job-state" not in transport.calls[-1]
    assert sched.states_only is True  # polls go on asking for states alone


def test_a_controller_that_does_not_answer_is_asked_on_the_same_backoff() -> None:
    clock = PollClock(POLICY)
    clock.polled(0.0, {"1": "RUNNING"})
    asked = []
    for t in range(1, 120):
        clock.note_jobs(["1", "2"] if t > 3 else ["1"], float(t))  # "2" submitted meanwhile
        if clock.due(float(t)):
            clock.unanswered(float(t))
            asked.append(t)
    assert len(asked) <= 12, asked  # not every tick (119 of them)
    assert max(b - a for a, b in zip(asked, asked[1:], strict=False)) >= 16
