"""What a tick costs on Kubernetes: one LIST of Jobs and one of Pods, whatever the number of
workflows, Jobs and indices (counted by the API emulator), and resourceVersion handling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s.conftest import Cloud

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.containers, pytest.mark.s3, pytest.mark.kubernetes]


def submit_only(tmp_path: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "submit", str(HERE / "wf_slices.py"), *args],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.split()[-1]


def calls_of(cloud: Cloud, fn) -> dict:
    before = dict(cloud.emu.calls)
    fn()
    return {k: v - before.get(k, 0) for k, v in cloud.emu.calls.items() if v - before.get(k, 0)}


def test_one_list_of_jobs_and_one_of_pods_per_tick_for_many_workflows(cloud: Cloud, tmp_path: Path):
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    cloud.cluster.hold = True  # pods "run" without containers: the count is the point here
    ids = [submit_only(tmp_path, "5"), submit_only(tmp_path, "3"), submit_only(tmp_path, "1")]
    client = get_client()
    engine = Engine(client.store, client.scheduler, client.settings, only=set(ids))
    first = calls_of(cloud, engine.tick)
    assert first[("create", "jobs")] == 3  # one Indexed Job per sliced step
    for _ in range(3):
        per_tick = calls_of(cloud, engine.tick)
        assert per_tick == {("list", "jobs"): 1, ("list", "pods"): 1}, per_tick
    inflight = {a.job_id for a in engine.inflight.values()}
    assert len(inflight) == 9


def test_a_thousand_index_step_costs_two_api_calls_per_tick(cloud: Cloud, tmp_path: Path):
    """The measurement quoted in the README: a 1,000-index step in flight."""
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    cloud.cluster.hold = True
    wf_id = submit_only(tmp_path, "1000")
    client = get_client()
    engine = Engine(client.store, client.scheduler, client.settings, only={wf_id})
    engine.tick()  # stages 1,000 task records in S3 and creates one Job
    assert len({a.job_id.rsplit(":", 1)[0] for a in engine.inflight.values()}) == 1
    assert len(engine.inflight) == 1000
    ticks = [calls_of(cloud, engine.tick) for _ in range(3)]
    for per_tick in ticks:
        assert per_tick == {("list", "jobs"): 1, ("list", "pods"): 1}, per_tick
    print(f"API calls per tick with 1,000 indices in flight: {sum(ticks[-1].values())}")


def test_a_list_never_older_than_the_last_one_and_410_gone_recovers(cloud: Cloud, tmp_path: Path):
    from hpcflow.client import get_client
    from hpcflow.engine.engine import Engine

    cloud.cluster.hold = True
    wf_id = submit_only(tmp_path, "2")
    client = get_client()
    engine = Engine(client.store, client.scheduler, client.settings, only={wf_id})
    engine.tick()
    engine.tick()
    sched = client.scheduler
    assert sched._rv["jobs"] and sched._rv["pods"]  # the next LIST asks NotOlderThan these
    cloud.emu.compact()  # the server forgot them: 410 Gone, then one fresh LIST
    per_tick = calls_of(cloud, engine.tick)
    assert per_tick == {("list", "jobs"): 2, ("list", "pods"): 2}, per_tick
    assert int(sched._rv["jobs"]) >= cloud.emu.compacted
    assert len(engine.inflight) == 2  # nothing was declared lost on the way
