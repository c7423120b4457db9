"""Workflows on the stand-in Kubernetes cluster: the real kubernetes client against the API
emulator, pods run for real with ch-run in the test image, artifacts and records in moto S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
