"""How an attempt ended, from its exit record or, failing that, from the scheduler."""

from __future__ import annotations

from typing import Any

from hpcflow.scheduler.base import JobState, JobStatus
from hpcflow.states import ErrorKind

K = ErrorKind

#: Scheduler states of a job that vanished without an exit record → (error kind, message).
_VANISHED: dict[JobState, tuple[ErrorKind, str]] = {
    JobState.TIMEOUT: (K.TIMEOUT, "the scheduler killed the job at its time limit"),
    JobState.OUT_OF_MEMORY: (
        K.FATAL,
        "out of memory: the job exceeded its memory request; ask for more memory "
        "(resources={'memory': ...})",
    ),
    JobState.NODE_FAIL: (K.SYSTEM, "the compute node failed"),
    JobState.PREEMPTED: (K.SYSTEM, "the job was preempted"),
    JobState.BOOT_FAIL: (K.SYSTEM, "the compute node failed to boot"),
    JobState.CANCELLED: (K.FATAL, "the job was cancelled outside hpcflow"),
    JobState.COMPLETED: (K.SYSTEM, "the job ended without writing an exit record (lost)"),
    JobState.FAILED: (K.SYSTEM, "the job failed before the runtime could write an exit record"),
    JobState.UNKNOWN: (K.SYSTEM, "the job vanished from the queue without an exit record (lost)"),
}


def outcome_from_exit(record: dict[str, Any]) -> tuple[bool, ErrorKind | None, str]:
    """(succeeded, error kind, message) from an exit record."""
    if record.get("status") == "succeeded":
        return True, None, ""
    try:
        kind = ErrorKind(record.get("kind") or "error")
    except ValueError:  # a record from a newer or broken runtime: an ordinary failure
        kind = ErrorKind.ERROR
    if kind == ErrorKind.LOAD:  # the OP cannot be loaded: trying again cannot help
        kind = ErrorKind.FATAL
    return False, kind, record.get("message") or "failed"


def outcome_from_scheduler(status: JobStatus) -> tuple[ErrorKind, str]:
    """(error kind, message) for a job gone from the queue without an exit record."""
    if status.state == JobState.FAILED and status.exit_code in (126, 127):
        # The job script could not start its command (e.g. no container runtime on the
        # node): running it again cannot help.
        kind, message = K.FATAL, f"the job could not start its command (exit code {status.exit_code})"
    else:
        kind, message = _VANISHED.get(status.state, (K.SYSTEM, f"job ended in state {status.state}"))
    detail = f" ({status.reason})" if status.reason else ""
    node = f" on {status.node}" if status.node and status.node != "localhost" else ""
    return kind, f"{message}{node}{detail}"
