"""``hpcflow site check`` on a Kubernetes site, run as users run it, against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s.conftest import Cloud

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.s3, pytest.mark.kubernetes]


def check(cloud: Cloud) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "--site", str(cloud.site), "site", "check"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)


def test_all_probes_pass(cloud: Cloud):
    proc = check(cloud)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("kubernetes API", "namespace", "permissions", "S3 store"):
        assert any(line in row and "[  ok]" in row for row in proc.stdout.splitlines()), proc.stdout
    assert cloud.emu.calls[("create", "selfsubjectaccessreviews")] == 5
    assert "v1.31.0" in proc.stdout


def test_refused_permissions_are_named(cloud: Cloud):
    cloud.emu.denied = {("list", "pods"), ("delete", "jobs")}
    proc = check(cloud)
    assert proc.returncode == 1
    row = next(r for r in proc.stdout.splitlines() if "] permissions" in r)
    assert "FAIL" in row and "list pods" in row and "delete jobs" in row


def test_a_missing_namespace_and_a_wrong_token(cloud: Cloud):
    cloud.emu.namespaces.discard("hpcflow")
    proc = check(cloud)
    assert proc.returncode == 1 and "namespace" in proc.stdout and "not found" in proc.stdout
    cloud.kubeconfig.write_text(cloud.kubeconfig.read_text().replace(cloud.emu.token, "wrong"))
    proc = check(cloud)
    assert proc.returncode == 1
    row = next(r for r in proc.stdout.splitlines() if "] kubernetes API" in r)
    assert "FAIL" in row and "401" in row
    assert any("S3 store" in r and "[  ok]" in r for r in proc.stdout.splitlines())  # still probed
