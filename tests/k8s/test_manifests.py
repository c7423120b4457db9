"""Manifest builders: golden output, hostile names, and the real Kubernetes schemas.

The schemas are those of ``kubernetes-validate`` (the OpenAPI definitions of each release);
``--strict`` rejects any field the release does not know. The versions are the ones the
README names: 1.29 is the first with ``backoffLimitPerIndex`` (beta, on by default).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpcflow.scheduler.base import JobRequest, Resources
from hpcflow.scheduler.kubernetes import manifests as M
from hpcflow.scheduler.kubernetes.settings import KubeSettings

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = ("1.29.0", "1.31.0", "1.33.0", "1.37.0")


def settings(**kw) -> KubeSettings:
    base = dict(namespace="science", s3_secret="hpcflow-s3", work_root="/scratch/alice/hpcflow",
                storage={"kind": "s3", "endpoint_url": "https://s3.example.org", "bucket": "runs",
                         "prefix": "hpc flow", "region": "eu-west-1", "credentials_file": "/home/alice/.s3"},
                images={"/shared/images/dft.sif": "registry.example.org/dft:2024"},
                service_account="hpcflow-runner", node_selector={"pool": "gpu"}, ttl_s=900,
                unschedulable_timeout_s=300, backoff_limit_per_index=2)
    base.update(kw)
    return KubeSettings(**base)


def request(**kw) -> JobRequest:
    base = dict(tag="hpcflow-Scan Ünïcode $(rm -rf)-1a2b-0123456789", name="hpcflow.scan.scan",
                workdir=Path("/tmp"), tasks=tuple(("python3", "-m", "hpcflow.runtime", f"/u/{i}") for i in range(10)),
                resources=Resources(cpus=4, memory_mb=2048, gpus=1, time_limit_s=600),
                parallelism=3, image="/shared/images/dft.sif", units=tuple((f"/u/{i}",) for i in range(10)),
                step="Scan Ünïcode 'quoted' $(x)")
    base.update(kw)
    return JobRequest(**base)


def build(req: JobRequest | None = None, s: KubeSettings | None = None) -> dict:
    return M.job_manifest(req or request(), s or settings(), owner="0123456789abcdef",
                          tasks_key="_k8s/jobs/x/tasks.json", lib_configmap="hpcflow-lib-0011223344556677")


def test_job_manifest_matches_the_golden_file():
    golden = GOLDEN / "job_gpu_indexed.json"
    got = build()
    if os.environ.get("HPCFLOW_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(golden.read_text())


def test_indexed_job_fields():
    job = build()
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 10 and spec["parallelism"] == 3
    assert spec["backoffLimitPerIndex"] == 2 and "backoffLimit" not in spec
    assert spec["ttlSecondsAfterFinished"] == 900
    # 10 tasks, 3 at a time: 4 waves of the 600 s limit, plus the unschedulable allowance
    assert spec["activeDeadlineSeconds"] == 4 * 600 + 300
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    c = pod["containers"][0]
    assert c["image"] == "registry.example.org/dft:2024"  # the home image mapped to the cloud's
    assert c["resources"] == {"requests": {"cpu": "4", "memory": "2048Mi"},
                              "limits": {"memory": "2048Mi", "nvidia.com/gpu": "1"}}
    env = {e["name"]: e["value"] for e in c["env"]}
    assert "credentials_file" not in env["HPCFLOW_POD_STORAGE"]  # a login-node path, never shipped
    assert c["envFrom"] == [{"secretRef": {"name": "hpcflow-s3"}}]


def test_names_and_labels_are_valid_for_hostile_step_names():
    job = build()
    name = job["metadata"]["name"]
    assert len(name) <= 52 and name.startswith("hpcflow-scan-n-code-quoted-x-")
    import re

    for value in job["metadata"]["labels"].values():
        assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", value), value
    assert job["metadata"]["annotations"][M.TAG_ANNOTATION] == request().tag  # the full tag, unchanged


def test_old_servers_get_one_backoff_limit():
    job = build(s=settings(per_index_retries=False))
    assert "backoffLimitPerIndex" not in job["spec"] and job["spec"]["backoffLimit"] == 20


def test_no_time_limit_no_deadline_and_no_gpu():
    job = build(request(resources=Resources(), parallelism=None))
    assert "activeDeadlineSeconds" not in job["spec"]
    assert job["spec"]["parallelism"] == 10
    assert "resources" not in job["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate_strictly_against_kubernetes(version: str, tmp_path: Path):
    docs = {"job.json": build(), "plain.json": build(request(resources=Resources(), parallelism=None),
                                                     settings(service_account=None, node_selector={})),
            "old.json": build(s=settings(per_index_retries=False)),
            "lib.json": M.lib_configmap("hpcflow-lib-0011223344556677", "science", "0123456789abcdef", b"PK\x05\x06" + bytes(18))}
    for name, doc in docs.items():
        (tmp_path / name).write_text(json.dumps(doc))
    exe = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run([str(exe), "--strict", "-k", version, *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource ") == len(docs), proc.stdout


def test_validation_catches_a_broken_manifest(tmp_path: Path):
    """The validator is really strict: a misspelt field fails (so the test above can fail)."""
    job = build()
    job["spec"]["backoffLimitPerIndexx"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(job))
    exe = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run([str(exe), "--strict", "-k", "1.31.0", str(tmp_path / "bad.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "backoffLimitPerIndexx" in proc.stdout + proc.stderr
