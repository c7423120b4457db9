"""The retry rule: given how an attempt failed and what was used, retry or fail (pure).

Two budgets, kept apart because they answer different questions: the template's retries
(``retry_on_transient_error``, ``retry_on_failure``) are spent on the OP's own failures;
system retries are spent when the node or the job, not the OP, failed (node failure,
preemption, a lost job), so a flaky cluster never eats a user's retry budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from hpcflow.spec.model import RetryPolicy
from hpcflow.states import ErrorKind

__all__ = ["Decision", "RetryCounters", "RetryPolicy", "Verdict", "decide", "template_limit"]

#: Attempts lost to the system (not the OP) that are retried before the unit fails.
SYSTEM_RETRIES = 3


def template_limit(policy: RetryPolicy, kind: ErrorKind) -> int:
    """How many retries a template's policy allows for a failure of ``kind``."""
    if kind == ErrorKind.TRANSIENT or kind == ErrorKind.TIMEOUT and policy.timeout_is_transient:
        return max(policy.on_transient, policy.on_failure)
    if kind == ErrorKind.ERROR:
        return policy.on_failure
    return 0


@dataclass(frozen=True)
class RetryCounters:
    """What a unit has used so far (typed columns of its node)."""

    retries: int = 0
    system_retries: int = 0


class Verdict(str, Enum):
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    counters: RetryCounters
    #: Why, for the node's message (``None`` when it fails: the failure speaks for itself).
    reason: str | None = None


def decide(kind: ErrorKind, counters: RetryCounters, policy: RetryPolicy,
           system_retries: int = SYSTEM_RETRIES) -> Decision:
    """Retry (with the counters after this retry) or fail, for a failure of ``kind``."""
    if kind == ErrorKind.SYSTEM:
        if counters.system_retries < system_retries:
            return Decision(Verdict.RETRY, replace(counters, system_retries=counters.system_retries + 1),
                            "retrying after a system failure")
        return Decision(Verdict.FAIL, counters)
    limit = template_limit(policy, kind)
    if counters.retries < limit:
        used = counters.retries + 1
        return Decision(Verdict.RETRY, replace(counters, retries=used),
                        f"retry {used}/{limit} after {kind.value} error")
    return Decision(Verdict.FAIL, counters)
