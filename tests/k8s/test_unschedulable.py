"""A pod no node can take goes back to the home site after ``unschedulable_timeout_s``.

The home scheduler here is the local one (the real-Slurm version of bursting is
tests/slurm/test_burst_to_kubernetes.py); the cloud is the stand-in cluster, whose only
node has no GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.k8s.conftest import Cloud

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
pytestmark = [pytest.mark.containers, pytest.mark.s3, pytest.mark.kubernetes]


def test_an_unschedulable_unit_is_withdrawn_and_runs_at_home(cloud: Cloud, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import get_client, reset_clients
    from hpcflow.engine.burst import BurstPolicy, BurstScheduler
    from hpcflow.engine.engine import Engine
    from hpcflow.runtime import staging
    from hpcflow.scheduler.kubernetes.backend import KubernetesScheduler, owner_label
    from hpcflow.scheduler.kubernetes.settings import KubeSettings
    from hpcflow.site import load_site

    home_site = tmp_path / "home.toml"
    home_site.write_text(cloud.site.read_text().replace('scheduler = "kubernetes"', 'scheduler = "local"')
                         .replace('name = "cloud"', 'name = "home"')
                         .split("[kubernetes]")[0] + "[storage]" + cloud.site.read_text().split("[storage]")[1])
    monkeypatch.setenv("HPCFLOW_SITE", str(home_site))
    reset_clients()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sub = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "submit", str(HERE / "wf_gpu.py")],
                         env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    wf_id = sub.stdout.split()[-1]
    client = get_client()
    kube = KubernetesScheduler(KubeSettings.from_site(load_site(cloud.site), str(client.settings.work_root)),
                               owner_label(str(tmp_path), "tester"))
    always = BurstPolicy("cloud", when_pending_over=-1)  # every job bursts first
    engine = Engine(client.store, BurstScheduler(client.scheduler, kube, always), client.settings, only={wf_id})
    deadline = time.time() + 120
    while client.store.workflow_status(wf_id) not in ("Succeeded", "Failed") and time.time() < deadline:
        engine.tick()
        time.sleep(0.3)
    assert client.store.workflow_status(wf_id) == "Succeeded", client.store.attempts(wf_id)
    first, second = client.store.attempts(wf_id)
    assert first["job_id"].startswith("k8s:cloud/") and first["status"] == "failed"
    assert "unschedulable on cloud" in first["message"]
    assert not second["job_id"].startswith("k8s:")  # the retry ran at home
    assert (Path(first["dir"]) / staging.WITHDRAWN).exists()
    assert kube.store.get_bytes(staging.record_key(kube.unit_key(first["dir"]), staging.WITHDRAWN)) is not None
    pods = cloud.emu.list("pods", "hpcflow")
    assert pods and all(p["status"]["phase"] == "Pending" for p in pods)  # nothing ran in the cloud
