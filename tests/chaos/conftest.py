"""The chaos suite: real workflows on the real Slurm test cluster, with faults injected.

Gate: without the test cluster the suite is skipped with the reason, and under CI=true that
is a failure. Every test leaves the cluster healthy (controller up, node back), even when it
fails. The seed and the suite's counts are printed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.chaos import cluster, report
from tests.chaos.markers import MARK_SOURCE, Tally, tally
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


#: The head of a gated workflow script: its OPs mark each start and end in MARKER (with
#: ``mark``, :mod:`tests.chaos.markers`) and wait for the test to touch GATE files.
GATED_HEAD = '''
import os
import time
from pathlib import Path

from hpcflow import Step, Workflow
from hpcflow.python import OP, Artifact, PythonOPTemplate, Slices

MARKER = {marker!r}
GATE = {gate!r}
'''

T = TypeVar("T")


@dataclass
class GatedWorkflow:
    """One gated workflow of a test, driven by the project's daemon."""

    project: Project
    marker: Path
    gate: Path
    wf_id: str = ""

    def submit(self, body: str) -> str:
        """Write ``wf.py`` (the gated head, ``mark`` and ``body``), submit it, start the daemon."""
        self.project.write("wf.py", GATED_HEAD.format(marker=str(self.marker), gate=str(self.gate))
                           + MARK_SOURCE + body)
        (self.wf_id,) = self.project.submit("wf.py")
        self.project.start_daemon()
        return self.wf_id

    def read(self, what: Callable[[Any], T]) -> T:
        """``what(store)`` on a store opened for the call (and closed after it)."""
        store = self.project.store()
        try:
            return what(store)
        finally:
            store.close()

    def finish(self, scenario: str, outcome: str) -> tuple[dict[str, str], Tally]:
        """Stop the daemon, count every unit's executions and record the scenario in the
        suite's summary (``outcome`` may name the final ``{status}``)."""
        statuses = self.project.statuses([self.wf_id])
        self.project.stop_daemon()
        counts = self.read(lambda store: tally(self.marker, store, [self.wf_id]))
        report.record(scenario, outcome.format(status=statuses[self.wf_id]), units=len(counts.units),
                      lost=len(counts.lost), duplicates=counts.duplicates)
        return statuses, counts


@pytest.fixture
def gated(project: Project, tmp_path: Path) -> GatedWorkflow:
    """A gated workflow in the test's project (marks and gates under ``tmp_path``)."""
    return GatedWorkflow(project, tmp_path / "marks", tmp_path / "gate")
