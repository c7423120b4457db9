"""Bursting on the real Slurm cluster: with a held queue and ``when_pending_over = 0``, the
units after the first go to the Kubernetes site (the stand-in cluster of tests/k8s), and the
workflow completes once the held job is released."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.k8s.conftest import IMAGE_REF, image_problem, start_cloud
from tests.s3_server import S3Server, s3_server_fixture

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "k8s"
pytestmark = [pytest.mark.slurm, pytest.mark.containers, pytest.mark.s3, pytest.mark.kubernetes]


@pytest.fixture(scope="module")
def s3() -> S3Server:
    yield from s3_server_fixture()


def home_site(tmp_path: Path, cloud_site: Path, s3: S3Server, bucket: str) -> Path:
    text = (REPO / "site-configs" / "slurm-test.toml").read_text()
    text = text.replace('partition = "debug"\n', 'partition = "debug"\nextra_sbatch = ["--hold"]\n', 1)
    text = text.replace('[storage]\nkind = "shared"', "")
    text += (f'\n[storage]\nkind = "s3"\nendpoint_url = "{s3.endpoint_url}"\nbucket = "{bucket}"\n'
             f'prefix = "runs"\nregion = "{s3.region}"\n'
             f'\n[burst]\nsite = "{cloud_site}"\nwhen_pending_over = 0\nonly_images = false\n')
    path = tmp_path / "home.toml"
    path.write_text(text)
    return path


def test_a_held_queue_sends_the_next_units_to_kubernetes(s3: S3Server, tmp_path: Path):
    problem = image_problem()
    if problem:
        if in_ci():
            pytest.fail(f"CI=true but {problem}", pytrace=False)
        pytest.skip(problem)
    cloud = start_cloud(tmp_path, s3, extra=f'default_image = "{IMAGE_REF}"\n')
    site = home_site(tmp_path, cloud.site, s3, cloud.bucket)
    env = dict(os.environ, **s3.env, PYTHONPATH=str(REPO), HPCFLOW_HOME=str(tmp_path / "home"),
               HPCFLOW_SITE=str(site))
    proc = subprocess.Popen([sys.executable, str(HERE / "wf_burst.py"), "3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)

    released: list[str] = []
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            db = tmp_path / "home" / "hpcflow.db"
            atts = _attempts(db)
            home = [a for a in atts if a["job_id"] and not a["job_id"].startswith("k8s:")]
            cloud_done = [a for a in atts if (a["job_id"] or "").startswith("k8s:") and a["status"] == "succeeded"]
            if cloud_done:
                # The cloud ran what Slurm could not start: now let the held jobs go.
                for job in {a["job_id"].split("_")[0] for a in home} - set(released):
                    subprocess.run(["scontrol", "release", job], check=True, capture_output=True, timeout=60)
                    released.append(job)
            time.sleep(0.5)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
        cloud.cluster.stop()
        cloud.emu.stop()
        for job in {a["job_id"].split("_")[0] for a in _attempts(tmp_path / "home" / "hpcflow.db")
                    if a["job_id"] and not a["job_id"].startswith("k8s:")}:
            subprocess.run(["scancel", job], capture_output=True, timeout=60)
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["status"] == "Succeeded", (out, stderr[-3000:], cloud.cluster.logs())
    assert out["sum"] == 0 + 1 + 4
    assert released, "no unit was held at home"
    show = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "show", out["id"], "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    ran_on = {s["path"]: s["ran_on"] for s in json.loads(show.stdout)["steps"] if s["type"] == "Pod"}
    # "first" was submitted first (the planner keeps the order of a parallel group) and
    # held at home; in the same tick the queue had 1 pending > 0, so scan burst. "total"
    # came after "first" was released: the home queue was empty again, so it ran at home.
    assert ran_on["first"] == "slurm-test", ran_on
    assert [ran_on[f"scan({i})"] for i in range(3)] == ["cloud"] * 3, ran_on
    assert out["scan"] == ["image"] * 3  # the slices ran in the image, on the stand-in cluster
    assert ran_on["total"] == "slurm-test" and len(released) == 2


def _attempts(db: Path) -> list[dict]:
    import sqlite3

    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT node_path, job_id, status FROM attempts ORDER BY rowid")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()
