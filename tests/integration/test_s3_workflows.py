"""Workflows whose artifacts live on S3 (a real moto_server on 127.0.0.1), switched on by the
site configuration alone: the workflow code is the same as for the shared filesystem."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hpcflow import Step, Workflow, download_artifact, upload_artifact
from hpcflow.python import PythonOPTemplate, Slices
from tests.integration import wf_ops as ops
from tests.s3_server import S3Server, s3_server_fixture

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def server():
    yield from s3_server_fixture()


def s3_site(tmp_path: Path, server: S3Server, bucket: str, scheduler: str = "local") -> Path:
    if scheduler == "slurm":
        text = (REPO / "site-configs" / "slurm-test.toml").read_text()
        text = text.replace('[storage]\nkind = "shared"', "")
    else:
        text = f'name = "s3-local"\nscheduler = "local"\nwork_root = "{tmp_path / "work"}"\n'
    text += (f'\n[storage]\nkind = "s3"\nendpoint_url = "{server.endpoint_url}"\nbucket = "{bucket}"\n'
             f'prefix = "runs"\nregion = "{server.region}"\nmultipart_threshold_mb = 5\n')
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


@pytest.fixture
def s3_home(tmp_path: Path, server: S3Server, monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import reset_clients

    bucket = server.new_bucket()
    for k, v in server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HPCFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HPCFLOW_SITE", str(s3_site(tmp_path, server, bucket)))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    reset_clients()
    yield bucket
    reset_clients()


def build(src: Path) -> Workflow:
    """The same workflow code as on a shared filesystem."""
    wf = Workflow("s3flow")
    mk = Step("mk", PythonOPTemplate(ops.make_dir), parameters={"n": 3})
    up = Step("up", PythonOPTemplate(ops.read_text), artifacts={"f": upload_artifact(src)})
    wf.add([mk, up])
    each = Step("each", PythonOPTemplate(ops.read_text, slices=Slices(input_artifact=["f"], output_parameter=["text"],
                                                                      sub_path=True)),
                artifacts={"f": mk.outputs.artifacts["files"]})
    sub = Step("sub", PythonOPTemplate(ops.read_text), artifacts={"f": mk.outputs.artifacts["out"].sub_path("f2.txt")})
    wf.add([each, sub])
    return wf


def test_artifacts_go_through_s3_with_only_the_site_changed(s3_home: str, server: S3Server, tmp_path: Path):
    src = tmp_path / "input.txt"
    src.write_text("uploaded")
    wf = build(src)
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded", [(s.name, s.message) for s in wf.query_step()]
    assert wf.query_step(name="up")[0].outputs.parameters["text"].value == "uploaded"
    assert wf.query_step(name="each", type="FanOut")[0].outputs.parameters["text"].value == ["0", "1", "2"]
    assert wf.query_step(name="sub")[0].outputs.parameters["text"].value == "2"
    files = wf.query_step(name="mk")[0].outputs.artifacts["files"]
    assert all(v.startswith(f"s3://{s3_home}/runs/") for v in files.value)
    objects = [o["Key"] for o in server.client().list_objects_v2(Bucket=s3_home)["Contents"]]
    assert any(k.endswith(".hpcflow-manifest.json") for k in objects)
    got = download_artifact(files, path=tmp_path / "dl")
    assert [Path(p).read_text() for p in got] == ["0", "1", "2"]


def test_tampered_object_is_detected_by_the_consuming_step(s3_home: str, server: S3Server, tmp_path: Path):
    first = Workflow("s3-produce")
    first.add(Step("w", PythonOPTemplate(ops.write_file), parameters={"name": "x.txt", "content": "good"}))
    first.submit()
    assert first.wait(timeout=120) == "Succeeded"
    art = first.query_step(name="w")[0].outputs.artifacts["out"]
    obj = art.value.split(f"s3://{s3_home}/", 1)[1]
    server.client().put_object(Bucket=s3_home, Key=obj, Body=b"evil")
    second = Workflow("s3-consume")
    second.add(Step("r", PythonOPTemplate(ops.read_text), artifacts={"f": art}))
    second.submit()
    assert second.wait(timeout=120) == "Failed"
    (r,) = second.query_step(name="r")
    assert r.message.startswith(f"ChecksumMismatch: step r: s3://{s3_home}/{obj} "), r.message
    assert r.attempts == 1  # a changed input is fatal


def test_credentials_never_written_by_hpcflow(s3_home: str, server: S3Server, tmp_path: Path):
    src = tmp_path / "input.txt"
    src.write_text("x")
    wf = build(src)
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    secret = server.secret_key.encode()
    roots = [Path(os.environ["HPCFLOW_HOME"]), tmp_path / "work"]
    checked = 0
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                checked += 1
                assert secret not in path.read_bytes(), f"secret found in {path}"
    assert checked > 20  # the store, task files, logs, exit records were all looked at


@pytest.mark.slurm
def test_s3_artifacts_on_the_real_slurm_cluster(server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import reset_clients

    if subprocess.run(["scontrol", "ping"], capture_output=True).returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but the Slurm controller does not answer")
        pytest.skip("no Slurm cluster (scripts/slurm-test-cluster.sh start)")
    bucket = server.new_bucket()
    for k, v in server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HPCFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HPCFLOW_SITE", str(s3_site(tmp_path, server, bucket, scheduler="slurm")))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    reset_clients()
    src = tmp_path / "input.txt"
    src.write_text("uploaded")
    wf = build(src)
    wf.submit()
    assert wf.wait(timeout=300) == "Succeeded", [(s.name, s.message) for s in wf.query_step()]
    assert wf.query_step(name="each", type="FanOut")[0].outputs.parameters["text"].value == ["0", "1", "2"]
    jobs = [a["job_id"] for a in wf._client.store.attempts(wf.id)]
    assert all(j and not j.startswith("local") for j in jobs)
    reset_clients()
