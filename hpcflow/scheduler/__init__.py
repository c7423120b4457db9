"""Batch scheduler backends behind one protocol: submit a batch, observe many, cancel.

The protocol's names load on first use: the local fork server (``hpcflow.scheduler.zygote``)
lives in this package and needs none of them.
"""

from typing import Any

__all__ = ["JobRequest", "JobState", "JobStatus", "Resources", "Scheduler", "SubmittedJob"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hpcflow.scheduler import base

        return getattr(base, name)
    raise AttributeError(f"module 'hpcflow.scheduler' has no attribute {name!r}")
