"""Every state name hpcflow stores or compares, in one module.

The values are the strings the store has always held (Dflow/Argo's vocabulary for phases
and statuses), and each enum is a ``str`` subclass, so rows written by any version compare
equal to the members. The transitions between them are in ``docs/design.md``.
"""

from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    """Where one step instance (a node) is."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"  # its `when` was false
    OMITTED = "Omitted"  # never reached: an upstream step failed or the workflow stopped

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        return self in FINAL_PHASES


FINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.SKIPPED, Phase.OMITTED})


class NodeType(str, Enum):
    """What a node is, as Dflow's ``query_step(type=...)`` knows it."""

    POD = "Pod"  # a unit: one run of an OP
    STEPS = "Steps"
    DAG = "DAG"
    FANOUT = "FanOut"  # the items or slices of one step

    def __str__(self) -> str:
        return self.value


class WorkflowStatus(str, Enum):
    """A workflow's status (what ``query_status()`` returns)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        return self in (WorkflowStatus.SUCCEEDED, WorkflowStatus.FAILED)


ACTIVE_STATUSES = (WorkflowStatus.PENDING, WorkflowStatus.RUNNING)
FINAL_STATUSES = (WorkflowStatus.SUCCEEDED, WorkflowStatus.FAILED)


class AttemptStatus(str, Enum):
    """One attempt of a unit, as the engine tracks its job."""

    SUBMITTING = "submitting"  # recorded with its tag; the scheduler may or may not have it
    SUBMITTED = "submitted"  # the scheduler gave a job id
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


ACTIVE_ATTEMPTS = (AttemptStatus.SUBMITTING, AttemptStatus.SUBMITTED)
#: How the message of an attempt withdrawn before it ran starts (a chained job whose
#: producer failed or was retried); it is cancelled, and views do not count it as run.
WITHDRAWN_MESSAGE = "withdrawn, planned again"


class ErrorKind(str, Enum):
    """Why an attempt failed; the retry policy decides on it."""

    TRANSIENT = "transient"  # the OP raised TransientError
    FATAL = "fatal"  # FatalError, a load error, OOM, a command that cannot start
    TIMEOUT = "timeout"  # the step's timeout or the scheduler's time limit
    ERROR = "error"  # any other exception in the OP
    LOAD = "load"  # the job could not load the OP (written by the runtime; treated as fatal)
    SYSTEM = "system"  # the node or the job, not the OP: node failure, preemption, lost job
    CANCELLED = "cancelled"  # by the user or because the workflow failed

    def __str__(self) -> str:
        return self.value
