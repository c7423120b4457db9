"""The burst rule (a pure function), the router's queue bookkeeping, and the index states."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.engine.burst import BurstPolicy, BurstScheduler, QueueState, decide_burst, sent_home
from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, SubmittedJob
from hpcflow.scheduler.kubernetes.states import parse_indexes, view_index

P = BurstPolicy("cloud", when_pending_over=200, when_wait_over_s=1800)


@pytest.mark.parametrize("queue, where", [
    (QueueState(0, 0), "home"),
    (QueueState(200, 0), "home"),       # "over", not "at"
    (QueueState(201, 0), "cloud"),
    (QueueState(1, 1800), "home"),
    (QueueState(1, 1801), "cloud"),
])
def test_thresholds(queue: QueueState, where: str):
    assert decide_burst(P, queue, step="scan", has_image=True).where == where


def test_only_images_keeps_imageless_steps_home():
    busy = QueueState(1000, 99999)
    assert decide_burst(P, busy, step="scan", has_image=False).where == "home"
    relaxed = BurstPolicy("cloud", when_pending_over=0, only_images=False)
    assert decide_burst(relaxed, busy, step="scan", has_image=False).where == "cloud"


def test_per_step_opt_in_and_opt_out():
    policy = BurstPolicy("cloud", when_pending_over=0, steps=("scan*", "fit"), never_steps=("scan-big",))
    busy = QueueState(5, 0)
    assert decide_burst(policy, busy, step="scan-small", has_image=True).where == "cloud"
    assert decide_burst(policy, busy, step="fit", has_image=True).where == "cloud"
    assert decide_burst(policy, busy, step="scan-big", has_image=True).where == "home"   # opt-out wins
    assert decide_burst(policy, busy, step="train", has_image=True).where == "home"      # not opted in
    reason = decide_burst(policy, busy, step="train", has_image=True).reason
    assert "burst.steps" in reason


def test_a_unit_sent_home_stays_home():
    d = decide_burst(P, QueueState(10**6, 10**6), step="scan", has_image=True, sent_home=True)
    assert d.where == "home" and "unschedulable" in d.reason


def test_sent_home_reads_the_withdrawn_marker_of_an_earlier_attempt(tmp_path: Path):
    node = tmp_path / "scan(3)"
    (node / "attempt-1").mkdir(parents=True)
    (node / "attempt-2").mkdir()
    job = JobRequest("t", "n", tmp_path, ((),), units=((str(node / "attempt-2"),),))
    assert not sent_home(job)
    (node / "attempt-1" / "withdrawn").write_text("cloud")
    assert sent_home(job)


class Fake:
    def __init__(self, name: str, prefix: str) -> None:
        self.name, self.prefix, self.submitted, self.states = name, prefix, [], {}

    def submit(self, job: JobRequest) -> SubmittedJob:
        ids = tuple(f"{self.prefix}{len(self.submitted)}_{i}" for i in range(len(job.tasks)))
        self.submitted.append(job)
        return SubmittedJob(job.tag, ids)

    def poll(self, ids):
        return {i: self.states.get(i, JobStatus(JobState.PENDING)) for i in ids}

    def cancel(self, ids):
        self.cancelled = list(ids)

    def adopt(self, tags):
        return {}


def test_router_counts_its_own_pending_tasks_and_routes_by_id():
    home, cloud = Fake("slurm", "1"), Fake("kubernetes", "k8s:job")
    clock = [1000.0]
    router = BurstScheduler(home, cloud, BurstPolicy("cloud", when_pending_over=2), clock=lambda: clock[0])
    req = JobRequest("t", "n", Path("/tmp"), ((), ()), image="img", step="scan")
    a = router.submit(req)                       # 0 pending: home (2 tasks)
    b = router.submit(req)                       # 2 pending, not over 2: home
    c = router.submit(req)                       # 4 pending: cloud
    assert [len(home.submitted), len(cloud.submitted)] == [2, 1]
    assert c.task_ids[0].startswith("k8s:")
    home.states = {t: JobStatus(JobState.RUNNING) for t in a.task_ids + b.task_ids}
    statuses = router.poll(list(a.task_ids + b.task_ids + c.task_ids))
    assert len(statuses) == 6 and router.queue_state().pending == 0
    router.submit(req)
    assert len(home.submitted) == 3              # the queue drained: home again
    router.cancel([a.task_ids[0], c.task_ids[0]])
    assert home.cancelled == [a.task_ids[0]] and cloud.cancelled == [c.task_ids[0]]


def test_router_waits_on_time_too():
    home, cloud = Fake("slurm", "1"), Fake("kubernetes", "k8s:job")
    clock = [0.0]
    router = BurstScheduler(home, cloud, BurstPolicy("cloud", when_wait_over_s=60), clock=lambda: clock[0])
    req = JobRequest("t", "n", Path("/tmp"), ((),), image="img", step="scan")
    first = router.submit(req)
    clock[0] = 61.0
    router.poll(list(first.task_ids))            # still pending after 61 s
    assert router.submit(req).task_ids[0].startswith("k8s:")


def test_index_ranges_and_views():
    assert parse_indexes("0-3,5,7-8") == {0, 1, 2, 3, 5, 7, 8}
    assert parse_indexes("") == set()
    job = {"status": {"completedIndexes": "0,2", "failedIndexes": "3"}}
    assert view_index(job, 0, [], 0).done and view_index(job, 0, [], 0).status.state == JobState.COMPLETED
    oom = {"status": {"containerStatuses": [{"state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]},
           "metadata": {}}
    assert view_index(job, 3, [oom], 0).status.state == JobState.OUT_OF_MEMORY
    pending = {"metadata": {}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    view = view_index(job, 1, [pending], 1767225600 + 90)
    assert not view.done and view.status.state == JobState.PENDING and view.unschedulable_s == 90
    deadline = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}}
    assert view_index(deadline, 1, [], 0).status.state == JobState.TIMEOUT
