"""`hpcflow site check` against the real cluster, and a site file that does not match it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slurm


def check(site: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "--site", str(site), "site", "check"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_site_check_reports_what_the_cluster_has():
    proc = check(REPO / "site-configs" / "slurm-test.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "site slurm-test: OK" in out
    assert "debug" in out and "100001" in out
    assert "FAIL" not in out


def test_site_check_flags_a_partition_the_cluster_lacks(tmp_path: Path):
    text = (REPO / "site-configs" / "slurm-test.toml").read_text() + '\n[partitions.gpu-big]\nmax_time = "01:00:00"\n'
    site = tmp_path / "wrong.toml"
    site.write_text(text)
    proc = check(site)
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "gpu-big" in proc.stdout


def test_bad_site_file_is_one_clear_error(tmp_path: Path):
    site = tmp_path / "bad.toml"
    site.write_text('name = "x"\nscheduler = "slurm"\n[defaults]\nmemory = "2 gigs"\ncolour = "blue"\n')
    proc = check(site)
    assert proc.returncode == 2
    assert proc.stderr.startswith("hpcflow: error: ") and "bad.toml" in proc.stderr
    assert "Traceback" not in proc.stderr
