"""Workflows on the stand-in Kubernetes cluster: the real kubernetes client against the API
emulator, pods run for real with ch-run in the test image, artifacts and records in moto S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpcflow.scheduler.kubernetes.backend import parse_task_id
from tests.k8s.conftest import Cloud

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.containers, pytest.mark.s3, pytest.mark.kubernetes]


def run_script(name: str, *args: str, timeout: float = 600) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(HERE / name), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=HERE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sliced_workflow_runs_as_one_indexed_job_with_per_index_retries(cloud: Cloud):
    out = run_script("wf_slices.py", "4", "1")
    assert out["status"] == "Succeeded", (out, cloud.cluster.logs())
    assert out["sum"] == 0 + 1 + 4 + 9
    assert out["lines"] == [f"{x} squared is {x * x}" for x in range(4)]
    assert all(i.startswith("hpcflow test image") for i in out["images"])  # ran in the image
    jobs = [j for j in cloud.cluster.ran]
    assert len({j for j, _ in jobs}) >= 3, jobs  # scan, the retry of slice 1, total
    attempts = _attempts(out["id"])
    assert [a["number"] for a in attempts if a["node_path"] == "scan(1)"] == [1, 2]
    assert all(a["number"] == 1 for a in attempts if a["node_path"] != "scan(1)")
    show = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "show", out["id"], "--json"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    steps = json.loads(show.stdout)["steps"]
    assert {s["ran_on"] for s in steps if s["type"] == "Pod"} == {"cloud"}


def _store():
    from hpcflow.store import Store

    return Store(Path(os.environ["HPCFLOW_HOME"]) / "hpcflow.db")


def _attempts(wf_id: str, prefix: str = "scan(") -> list[dict]:
    return [a for a in _store().attempts(wf_id) if a["node_path"].startswith(prefix)]


def test_group_size_packs_slices_per_index(cloud: Cloud):
    out = run_script("wf_slices.py", "5", "", "2")
    assert out["status"] == "Succeeded", (out, cloud.cluster.logs())
    assert out["sum"] == 0 + 1 + 4 + 9 + 16
    scan = [j for j in cloud.emu.list("jobs", "hpcflow") if j["spec"]["completions"] == 3]
    assert len(scan) == 1  # 5 slices, 2 per index: one Indexed Job of 3 indices
    ids = {a["node_path"]: a["job_id"] for a in _attempts(out["id"])}
    assert ids["scan(0)"] == ids["scan(1)"] and ids["scan(4)"].endswith(":2")


def test_a_pod_lost_with_its_node_is_retried_by_kubernetes_not_the_engine(cloud: Cloud):
    cloud.cluster.lose_first_pod = {2}
    out = run_script("wf_slices.py", "4")
    assert out["status"] == "Succeeded", (out, cloud.cluster.logs())
    scan = [a for a in _attempts(out["id"]) if a["node_path"] == "scan(2)"]
    assert len(scan) == 1  # backoffLimitPerIndex replaced the pod; no second attempt
    job = parse_task_id(scan[0]["job_id"])[0]
    pods = cloud.emu.list("pods", "hpcflow", f"batch.kubernetes.io/job-name={job}")
    index2 = [p for p in pods if p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "2"]
    assert sorted(p["status"]["phase"] for p in index2) == ["Failed", "Succeeded"]


def test_a_deleted_job_is_reconciled_from_s3_and_the_finished_indices_stand(cloud: Cloud, tmp_path: Path):
    import time

    from kubernetes import client, config

    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(HERE / "wf_slices.py"), "4", "", "1", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=HERE)
    try:
        deadline = time.time() + 120
        job = None
        while time.time() < deadline:
            jobs = [j for j in cloud.emu.list("jobs", "hpcflow") if j["spec"]["completions"] == 4]
            if jobs and jobs[0]["status"].get("completedIndexes") == "0-1" and jobs[0]["status"].get("active") == 2:
                job = jobs[0]["metadata"]["name"]
                break
            time.sleep(0.2)
        assert job, cloud.cluster.logs()
        # What a user with kubectl might do: delete the Job while slices 2 and 3 run.
        api = client.BatchV1Api(config.new_client_from_config(config_file=str(cloud.kubeconfig)))
        api.delete_namespaced_job(job, "hpcflow", propagation_policy="Background")
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["status"] == "Succeeded", (out, stderr[-2000:])
    assert out["sum"] == 14
    by_slice = {}
    for a in _attempts(out["id"]):
        by_slice.setdefault(a["node_path"], []).append(a)
    # slices 0 and 1 had finished: their exit records in S3 stand, no second attempt
    assert [len(by_slice[f"scan({i})"]) for i in range(4)] == [1, 1, 2, 2]
    lost = by_slice["scan(2)"][0]
    assert lost["status"] == "failed" and "deleted or expired" in lost["message"]


def test_an_engine_killed_between_create_and_record_adopts_the_job(cloud: Cloud, tmp_path: Path):
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(REPO), HPCFLOW_SUBMIT_ONLY="1")
    cli = [sys.executable, "-m", "hpcflow.cli.main"]
    sub = subprocess.run(cli + ["submit", str(HERE / "wf_slices.py"), "3"], env=env, capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    wf_id = sub.stdout.split()[-1]
    env.pop("HPCFLOW_SUBMIT_ONLY")
    cloud.emu.hold_job_create = True
    tick = subprocess.Popen(cli + ["tick"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert cloud.emu.job_created.wait(120)
    os.kill(tick.pid, signal.SIGKILL)  # the Job exists; the engine never heard back
    tick.wait()
    cloud.emu.hold_job_create = False
    cloud.emu.release.set()
    assert all(a["status"] == "submitting" and a["job_id"] is None for a in _attempts(wf_id))
    creates_before = cloud.emu.calls[("create", "jobs")]
    deadline = time.time() + 300
    status = None
    while time.time() < deadline:
        subprocess.run(cli + ["tick"], env=env, cwd=tmp_path, capture_output=True, timeout=120)
        status = _store().workflow_status(wf_id)
        if status in ("Succeeded", "Failed"):
            break
        time.sleep(0.3)
    assert status == "Succeeded", cloud.cluster.logs()
    assert cloud.emu.calls[("create", "jobs")] == creates_before + 1  # only "total"; scan was adopted
    scan_job = {parse_task_id(a["job_id"])[0] for a in _attempts(wf_id)}
    assert len(scan_job) == 1
    assert sorted(i for j, i in cloud.cluster.ran if j in scan_job) == [0, 1, 2]  # each slice ran once
