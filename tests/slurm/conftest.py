"""Gate for the real-cluster tests: skip with the reason when no cluster answers, fail in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[2] / "site-configs" / "slurm-test.toml"
START_HINT = "start it with `scripts/slurm-test-cluster.sh start` (as root)"


def _cluster_problem() -> str | None:
    if shutil.which("sinfo") is None:
        return f"Slurm client (sinfo) not installed; {START_HINT}"
    try:
        ping = subprocess.run(
            ["scontrol", "ping"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"slurm controller does not answer ({exc}); {START_HINT}"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        first = (ping.stdout or ping.stderr).strip().splitlines()[:1]
        return f"slurm controller does not answer ({' '.join(first)}); {START_HINT}"
    return None


def require_cluster() -> None:
    """Skip with the reason when no cluster answers; under CI=true fail instead."""
    problem = _cluster_problem()
    if problem is None:
        os.environ.setdefault("USER", "root" if os.geteuid() == 0 else str(os.geteuid()))
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session", autouse=True)
def slurm_cluster() -> None:
    """Check once per session; in CI a missing cluster is a failure, never a silent skip."""
    require_cluster()


@pytest.fixture
def slurm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private HPCFLOW_HOME on the slurm-test site, with fresh clients before and after."""
    from hpcflow.client import reset_clients

    home = tmp_path / "home"
    monkeypatch.setenv("HPCFLOW_HOME", str(home))
    monkeypatch.setenv("HPCFLOW_SITE", str(SITE))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    reset_clients()
    yield home
    reset_clients()
