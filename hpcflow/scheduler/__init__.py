"""Batch scheduler backends behind one protocol: submit a batch, observe many, cancel."""

from hpcflow.scheduler.base import (
    JobRequest,
    JobState,
    JobStatus,
    Resources,
    Scheduler,
    SubmittedJob,
)

__all__ = ["JobRequest", "JobState", "JobStatus", "Resources", "Scheduler", "SubmittedJob"]
