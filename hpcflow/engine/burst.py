"""Cloud bursting: a home scheduler (Slurm) and a Kubernetes site behind one scheduler.

The engine keeps one scheduler; a site with ``[burst]`` gives it a :class:`BurstScheduler`
that asks :func:`decide_burst` where each job request goes, and routes polls, cancels and
adoptions by task id (``k8s:...`` ids are the cloud's). The rule is a pure function of
the policy, this engine's queue at home and the step, so it is tested without a cluster.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hpcflow.runtime.staging import WITHDRAWN
from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, Scheduler, SubmittedJob

log = logging.getLogger("hpcflow.burst")
CLOUD_PREFIX = "k8s:"


@dataclass(frozen=True)
class BurstPolicy:
    """The ``[burst]`` table of the home site."""

    site: str
    when_pending_over: int | None = None
    when_wait_over_s: float | None = None
    only_images: bool = True
    steps: tuple[str, ...] = ()
    never_steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueState:
    """This engine's tasks in the home queue: how many wait, and the longest wait."""

    pending: int = 0
    oldest_wait_s: float = 0.0


@dataclass(frozen=True)
class BurstDecision:
    where: Literal["home", "cloud"]
    reason: str


def decide_burst(policy: BurstPolicy, queue: QueueState, *, step: str, has_image: bool,
                 sent_home: bool = False) -> BurstDecision:
    """Where a job of ``step`` runs: at home unless the home queue is over a threshold and
    the step may burst."""
    if sent_home:
        return BurstDecision("home", f"came back from {policy.site} (unschedulable there)")
    if any(fnmatch.fnmatchcase(step, p) for p in policy.never_steps):
        return BurstDecision("home", f"step {step} never bursts (never_steps)")
    if policy.steps and not any(fnmatch.fnmatchcase(step, p) for p in policy.steps):
        return BurstDecision("home", f"step {step} is not in burst.steps")
    if policy.only_images and not has_image:
        return BurstDecision("home", f"step {step} has no image (only_images)")
    if policy.when_pending_over is not None and queue.pending > policy.when_pending_over:
        return BurstDecision("cloud", f"{queue.pending} tasks pending at home "
                                      f"(over {policy.when_pending_over})")
    if policy.when_wait_over_s is not None and queue.oldest_wait_s > policy.when_wait_over_s:
        return BurstDecision("cloud", f"a task has waited {queue.oldest_wait_s:.0f} s at home "
                                      f"(over {policy.when_wait_over_s:g})")
    return BurstDecision("home", "the home queue is short")


def sent_home(job: JobRequest) -> bool:
    """Whether an earlier attempt of one of the job's units was withdrawn from the cloud."""
    for chunk in job.units:
        for unit in chunk:
            if any(Path(unit).parent.glob(f"attempt-*/{WITHDRAWN}")):
                return True
    return False


class BurstScheduler:
    """The home scheduler, with some jobs sent to a Kubernetes site (see :func:`decide_burst`)."""

    def __init__(self, home: Scheduler, cloud: Scheduler, policy: BurstPolicy,
                 clock: Any = time.time) -> None:
        self.home = home
        self.cloud = cloud
        self.policy = policy
        self.name = home.name
        self._clock = clock
        #: Home task ids last seen pending (or just submitted), with when they were first.
        self._pending: dict[str, float] = {}

    def queue_state(self) -> QueueState:
        now = self._clock()
        oldest = max((now - t for t in self._pending.values()), default=0.0)
        return QueueState(len(self._pending), oldest)

    def submit(self, job: JobRequest) -> SubmittedJob:
        decision = decide_burst(self.policy, self.queue_state(), step=job.step or job.name,
                                has_image=bool(job.image),
                                sent_home=sent_home(job))
        log.info("%s: %s (%s)", job.step or job.name,
                 f"burst to {self.policy.site}" if decision.where == "cloud" else "home",
                 decision.reason)
        if decision.where == "cloud":
            return self.cloud.submit(job)
        submitted = self.home.submit(job)
        now = self._clock()
        for tid in submitted.task_ids:
            self._pending.setdefault(tid, now)
        return submitted

    def poll(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        cloud = [t for t in task_ids if t.startswith(CLOUD_PREFIX)]
        home = [t for t in task_ids if not t.startswith(CLOUD_PREFIX)]
        out: dict[str, JobStatus] = {}
        if home:
            answer = self.home.poll(home)
            out.update(answer)
            now = self._clock()
            for tid in home:
                status = answer.get(tid)
                if status is not None and status.state == JobState.PENDING:
                    self._pending.setdefault(tid, now)
                else:
                    self._pending.pop(tid, None)
            for tid in set(self._pending) - set(home):  # no longer ours to watch
                self._pending.pop(tid, None)
        if cloud:
            out.update(self.cloud.poll(cloud))
        return out

    def cancel(self, task_ids: Sequence[str]) -> None:
        cloud = [t for t in task_ids if t.startswith(CLOUD_PREFIX)]
        home = [t for t in task_ids if not t.startswith(CLOUD_PREFIX)]
        if home:
            self.home.cancel(home)
        if cloud:
            self.cloud.cancel(cloud)

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        found = dict(self.home.adopt(tags))
        rest = [t for t in tags if t not in found]
        if rest:
            found.update(self.cloud.adopt(rest))
        return found


def where_ran(job_id: str | None, home: str) -> str:
    """The site a task id belongs to (for ``hpcflow show``): Kubernetes ids name theirs,
    ids of steps routed over SSH their route."""
    if not job_id:
        return ""
    from hpcflow.engine.routes import split_task_id

    route_id, _ = split_task_id(job_id)
    if route_id is not None:  # a step routed over SSH (hpcflow.engine.routing)
        return f"ssh-{route_id}"
    if job_id.startswith(CLOUD_PREFIX):
        return job_id[len(CLOUD_PREFIX):].split("/", 1)[0]
    return home
