"""What a Job's status and its pods say about one index: pure functions of API dicts.

The queue only answers "still there, and if not, why"; the exit records in S3 say how a
unit ended. An index is *done* when the Job lists it in ``completedIndexes`` or
``failedIndexes``, when the Job failed as a whole (deadline), or when the Job is gone.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hpcflow.scheduler.base import JobState, JobStatus

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
_OLD_JOB_NAME_LABEL = "job-name"


def parse_indexes(text: str | None) -> set[int]:
    """``"0-3,5,7-8"`` (the API's format for completed/failed indexes) as a set."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            found.update(range(int(lo), int(hi) + 1))
        else:
            found.add(int(part))
    return found


def job_of_pod(pod: dict[str, Any]) -> tuple[str, int] | None:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = labels.get(JOB_NAME_LABEL) or labels.get(_OLD_JOB_NAME_LABEL)
    index = (meta.get("annotations") or {}).get(INDEX_ANNOTATION, labels.get(INDEX_ANNOTATION))
    if name is None or index is None:
        return None
    return name, int(index)


def _time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class IndexView:
    """One index as the API shows it."""

    #: The Job no longer lists the index as running: read its exit records.
    done: bool
    status: JobStatus
    #: Seconds its pod has been unschedulable (0 when it is not).
    unschedulable_s: float = 0.0


def job_failed(job: dict[str, Any]) -> tuple[bool, str]:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return True, cond.get("reason") or "Failed"
    return False, ""


def view_index(job: dict[str, Any], index: int, pods: Iterable[dict[str, Any]], now: float) -> IndexView:
    """The state of ``index`` of ``job`` given the pods the Job controller made for it."""
    status = job.get("status") or {}
    pods = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
    latest = pods[-1] if pods else None
    node = ((latest or {}).get("spec") or {}).get("nodeName")
    if index in parse_indexes(status.get("completedIndexes")):
        return IndexView(True, JobStatus(JobState.COMPLETED, 0, node=node))
    if index in parse_indexes(status.get("failedIndexes")):
        return IndexView(True, _failed_pod_status(latest, node))
    failed, reason = job_failed(job)
    if failed:
        state = JobState.TIMEOUT if reason == "DeadlineExceeded" else JobState.FAILED
        return IndexView(True, JobStatus(state, reason=f"the Job failed: {reason}", node=node))
    if latest is None:
        return IndexView(False, JobStatus(JobState.PENDING, reason="no pod yet"))
    phase = (latest.get("status") or {}).get("phase")
    if phase == "Running":
        return IndexView(False, JobStatus(JobState.RUNNING, node=node))
    if phase in ("Succeeded", "Failed"):
        # The pod ended; the Job controller has not updated the index yet (or retries it).
        return IndexView(False, JobStatus(JobState.RUNNING, reason=f"pod {phase}", node=node))
    since = unschedulable_since(latest)
    waited = max(0.0, now - since) if since is not None else 0.0
    return IndexView(False, JobStatus(JobState.PENDING, reason="Unschedulable" if since else ""),
                     unschedulable_s=waited)


def unschedulable_since(pod: dict[str, Any]) -> float | None:
    """When the scheduler first said the pod fits no node, or ``None``."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if (cond.get("type") == "PodScheduled" and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"):
            return _time(cond.get("lastTransitionTime")) or 0.0
    return None


def _failed_pod_status(pod: dict[str, Any] | None, node: str | None) -> JobStatus:
    """Why the last pod of a failed index died (OOMKilled, a crash, an eviction)."""
    if pod is None:
        return JobStatus(JobState.FAILED, reason="index failed", node=node)
    st = pod.get("status") or {}
    if st.get("reason") == "Evicted":
        return JobStatus(JobState.PREEMPTED, reason=st.get("message") or "evicted", node=node)
    for cs in st.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        if term.get("reason") == "OOMKilled":
            return JobStatus(JobState.OUT_OF_MEMORY, term.get("exitCode"), "OOMKilled", node)
        if term:
            return JobStatus(JobState.FAILED, term.get("exitCode"), term.get("reason") or "", node)
    return JobStatus(JobState.FAILED, reason=st.get("reason") or "index failed", node=node)
