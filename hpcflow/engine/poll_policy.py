"""When to ask the scheduler again: soon after something changed or was submitted, at the
times jobs are due to end, and ever more rarely while nothing happens (up to ``poll_max_s``).

A controller answers every ``squeue`` of every user; a tool that asks once a second per user
is what cluster admins ban. The engine still ticks as often as it likes (advancing workflows
and submitting new work costs the controller nothing); only the scheduler query waits for
:func:`next_poll_due`. The policy is pure (times in, a time out) so that an hour of ticks can
be simulated in a unit test.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: The shortest gap between two scheduler queries (a job just submitted is pending for at
#: least this long on any cluster).
POLL_MIN_S = 1.0
#: The default longest gap (the site's ``poll_max_s``).
POLL_MAX_S = 30.0


@dataclass(frozen=True)
class PollPolicy:
    """How the gap between queries grows while nothing changes."""

    min_s: float = POLL_MIN_S
    max_s: float = POLL_MAX_S
    #: The gap is ``growth`` times the quiet time so far, so that queries after a change come
    #: at +1, +2, +4, +8 ... s (geometric), then every ``max_s``.
    growth: float = 1.0


def next_poll_due(policy: PollPolicy, *, last_poll: float | None, last_change: float,
                  expected_ends: Iterable[float] = ()) -> float:
    """The time the next scheduler query is due.

    Args:
        last_poll: when the scheduler was last asked (``None``: never, so at once).
        last_change: when the last change was seen: a job changed state or ended, or new
            jobs were submitted (a change after ``last_poll`` is a submission).
        expected_ends: when jobs in flight are due to end (their step's recorded runtimes);
            each one that lies after ``last_poll`` brings the next query forward to it.
    """
    if last_poll is None:
        return float("-inf")
    if last_change > last_poll:  # submitted since the last query: ask again soon
        return last_change + policy.min_s
    quiet = last_poll - last_change
    due = last_poll + min(policy.max_s, max(policy.min_s, policy.growth * quiet))
    upcoming = [end for end in expected_ends if end > last_poll]
    if upcoming:
        due = min(due, max(min(upcoming), last_poll + policy.min_s))
    return due


def typical_runtime(durations: Iterable[float]) -> float | None:
    """The runtime to expect from a step's finished attempts (their median), or None."""
    values = [d for d in durations if d >= 0]
    return statistics.median(values) if values else None


@dataclass
class PollClock:
    """The engine's memory for the policy: when it last asked, what it saw, what changed.

    A fresh process (a cron ``hpcflow tick``) has no memory and so asks at once.
    """

    policy: PollPolicy = field(default_factory=PollPolicy)
    last_poll: float | None = None
    last_change: float = 0.0
    #: The state each job id had at the last query (what a change is measured against).
    states: dict[str, str] = field(default_factory=dict)

    #: Job ids noted in flight since the last query (those it answered are in ``states``;
    #: ids in neither are new submissions).
    seen: set[str] = field(default_factory=set)

    def note_jobs(self, job_ids: Iterable[str], now: float) -> None:
        """Job ids in flight before this tick's query: ids never seen are new submissions
        (checked one by one: no set of 100,000 ids made every tick)."""
        states, seen = self.states, self.seen
        new = [job for job in job_ids if job not in states and job not in seen]
        if new:
            seen.update(new)
            self.last_change = max(self.last_change, now)

    def note_change(self, now: float) -> None:
        """Something ended (an exit record was read): keep asking soon."""
        self.last_change = max(self.last_change, now)

    def due(self, now: float, expected_ends: Iterable[float] = ()) -> bool:
        return now >= self.next_due(expected_ends)

    def next_due(self, expected_ends: Iterable[float] = ()) -> float:
        return next_poll_due(self.policy, last_poll=self.last_poll, last_change=self.last_change,
                             expected_ends=expected_ends)

    def unanswered(self, now: float) -> None:
        """The scheduler did not answer: it is asked again as late as one that answered "no
        change" would be (a controller that is down must not be asked every tick)."""
        if self.last_poll is None:
            self.last_change = max(self.last_change, now)
        self.last_poll = now

    def polled(self, now: float, states: Mapping[str, str]) -> None:
        """Record a query's answer (job id -> state); a state unlike the last one is a change."""
        if self.last_poll is None or any(self.states.get(j) != s for j, s in states.items()):
            self.last_change = max(self.last_change, now)
        self.states = dict(states)
        self.seen = set()  # the ids it answered are known by their states
        self.last_poll = now
