"""The stand-in cluster for the kubernetes backend: the API emulator (tests/k8s/emulator.py),
the Job controller and kubelet that run pods with ch-run (tests/k8s/controller.py), and
the moto S3 server; plus site files pointing hpcflow at them."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.k8s.controller import TestCluster
from tests.k8s.emulator import Emulator
from tests.s3_server import S3Server, s3_server_fixture

IMAGE = os.environ.get("HPCFLOW_TEST_IMAGE", "/var/tmp/hpcflow-test-image")
#: The reference pods pull; the kubelet maps it to the image directory.
IMAGE_REF = "localhost/hpcflow-test:bookworm"
NAMESPACE = "hpcflow"
SECRET = "hpcflow-s3"


def image_problem() -> str | None:
    if shutil.which("ch-run") is None:
        return "ch-run is not installed (apt-get install charliecloud-runtime)"
    if not Path(IMAGE, ".hpcflow-image-ok").exists():
        return f"no test image at {IMAGE} (scripts/build-test-image.sh {IMAGE})"
    return None


@pytest.fixture(scope="session")
def need_image() -> None:
    problem = image_problem()
    if problem:
        if in_ci():
            pytest.fail(f"CI=true but {problem}", pytrace=False)
        pytest.skip(problem)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    yield from s3_server_fixture()


@dataclass
class Cloud:
    """One stand-in cluster and a site file for it."""

    emu: Emulator
    cluster: TestCluster
    url: str
    kubeconfig: Path
    bucket: str
    s3: S3Server
    site: Path


def write_kubeconfig(path: Path, url: str, token: str) -> None:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster: {{server: "{url}"}}
users:
- name: tester
  user: {{token: "{token}"}}
contexts:
- name: emulator
  context: {{cluster: emulator, user: tester, namespace: {NAMESPACE}}}
current-context: emulator
""")
    path.chmod(0o600)


def kube_site_text(name: str, kubeconfig: Path, s3: S3Server, bucket: str, work_root: Path,
                   extra: str = "") -> str:
    return f"""name = "{name}"
scheduler = "kubernetes"
work_root = "{work_root}"
exit_record_grace_s = 2

[kubernetes]
namespace = "{NAMESPACE}"
kubeconfig = "{kubeconfig}"
s3_secret = "{SECRET}"
ttl_s = 600
unschedulable_timeout_s = 3
images = {{ "{IMAGE}" = "{IMAGE_REF}" }}
{extra}
[storage]
kind = "s3"
endpoint_url = "{s3.endpoint_url}"
bucket = "{bucket}"
prefix = "runs"
region = "{s3.region}"
"""


def start_cloud(tmp_path: Path, s3: S3Server, extra: str = "", work_root: Path | None = None) -> Cloud:
    token = secrets.token_hex(16)
    emu = Emulator(token, namespaces=("default", NAMESPACE))
    url = emu.start()
    # What an administrator does once: the Secret with the S3 keys the pods get.
    emu.create("secrets", NAMESPACE, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET},
                                      "data": {"AWS_ACCESS_KEY_ID": base64.b64encode(s3.access_key.encode()).decode(),
                                               "AWS_SECRET_ACCESS_KEY": base64.b64encode(s3.secret_key.encode()).decode()}})
    cluster = TestCluster(emu, {IMAGE_REF: IMAGE}, NAMESPACE).start()
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, url, token)
    bucket = s3.new_bucket()
    site = tmp_path / "cloud.toml"
    site.write_text(kube_site_text("cloud", kubeconfig, s3, bucket, work_root or tmp_path / "work", extra))
    return Cloud(emu, cluster, url, kubeconfig, bucket, s3, site)


@pytest.fixture
def cloud(tmp_path: Path, s3: S3Server, need_image: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    from hpcflow.client import reset_clients

    c = start_cloud(tmp_path, s3)
    for k, v in s3.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HPCFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HPCFLOW_SITE", str(c.site))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    reset_clients()
    try:
        yield c
    finally:
        reset_clients()
        c.cluster.stop()
        c.emu.stop()
