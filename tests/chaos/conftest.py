"""The chaos suite: real workflows on the real Slurm test cluster, with faults injected.

Gate: without the test cluster the suite is skipped with the reason, and under CI=true that
is a failure. Every test leaves the cluster healthy (controller up, node back), even when it
fails. The seed and the suite's counts are printed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos import cluster, report
from tests.chaos.project import Project
from tests.slurm.conftest import _cluster_problem


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_report_header(config: pytest.Config) -> str:
    return f"hpcflow chaos seed: {report.SEED} (replay with HPCFLOW_CHAOS_SEED={report.SEED})"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if not report.LINES:
        return
    terminalreporter.section("hpcflow chaos summary")
    for line in report.summary():
        terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def chaos_cluster() -> Iterator[None]:
    """The test cluster of scripts/slurm-test-cluster.sh, as root: these tests stop its daemons."""
    problem = _cluster_problem()
    if problem is None and not cluster.is_test_cluster():
        problem = (f"not the test cluster of scripts/slurm-test-cluster.sh as root (no "
                   f"{cluster.CTLD_PID}); chaos tests stop and kill its daemons")
    if problem is not None:
        if _in_ci():
            pytest.fail(f"CI=true but {problem}", pytrace=False)
        pytest.skip(problem)
    os.environ.setdefault("USER", "root")
    yield
    cluster.restore()


@pytest.fixture(autouse=True)
def healthy_cluster_after() -> Iterator[None]:
    """Whatever the test did to slurmctld or slurmd is undone, pass or fail."""
    yield
    cluster.restore()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A user's project on the test cluster; its daemon is stopped and its unfinished
    workflows are cancelled afterwards, so a failed test leaves no jobs behind."""
    proj = Project(tmp_path)
    yield proj
    proj.cleanup()


@pytest.fixture
def rng(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The test's random source, from the printed seed."""
    generator = report.rng_for(request.node.name)
    print(f"chaos seed {report.SEED} (HPCFLOW_CHAOS_SEED={report.SEED}) for {request.node.name}")
    return generator
