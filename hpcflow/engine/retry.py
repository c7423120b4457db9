"""The retry rule: given how an attempt failed and what was used, retry or fail (pure).

Two budgets, kept apart because they answer different questions: the template's retries
(``retry_on_transient_error``, ``retry_on_failure``) are spent on the OP's own failures;
system retries are spent when the node or the job, not the OP, failed (node failure,
preemption, a lost job), so a flaky cluster never eats a user's retry budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from hpcflow.states import ErrorKind

#: Attempts lost to the system (not the OP) that are retried before the unit fails.
SYSTEM_RETRIES = 3


@dataclass(frozen=True)
class RetryPolicy:
    """A template's retry settings."""

    on_transient: int = 0  # retry_on_transient_error
    on_failure: int = 0  # retry_on_failure: any failure of the OP but a fatal one
    timeout_is_transient: bool = False  # timeout_as_transient_error
    on_system: int = SYSTEM_RETRIES

    @classmethod
    def of_template(cls, tmpl: Any) -> RetryPolicy:
        """From a compiled OP template (its spec dataclass or its JSON form)."""
        get = tmpl.get if isinstance(tmpl, dict) else lambda k: getattr(tmpl, k, None)
        return cls(on_transient=get("retry_on_transient_error") or 0,
                   on_failure=get("retry_on_failure") or 0,
                   timeout_is_transient=bool(get("timeout_as_transient_error")))

    def limit(self, kind: ErrorKind) -> int:
        """How many retries the template allows for a failure of ``kind``."""
        if kind == ErrorKind.TRANSIENT or kind == ErrorKind.TIMEOUT and self.timeout_is_transient:
            return max(self.on_transient, self.on_failure)
        if kind == ErrorKind.ERROR:
            return self.on_failure
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


def decide(kind: ErrorKind, counters: RetryCounters, policy: RetryPolicy) -> Decision:
    """Retry (with the counters after this retry) or fail, for a failure of ``kind``."""
    if kind == ErrorKind.SYSTEM:
        if counters.system_retries < policy.on_system:
            return Decision(Verdict.RETRY, replace(counters, system_retries=counters.system_retries + 1),
                            "retrying after a system failure")
        return Decision(Verdict.FAIL, counters)
    limit = policy.limit(kind)
    if counters.retries < limit:
        used = counters.retries + 1
        return Decision(Verdict.RETRY, replace(counters, retries=used),
                        f"retry {used}/{limit} after {kind.value} error")
    return Decision(Verdict.FAIL, counters)
