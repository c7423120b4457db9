"""Dflow code on the real Slurm cluster: the downstream project's own tests (its
DispatcherExecutor resources reach the jobs) and ``__main__`` class instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.scripts import explain, run_dflow_script
from tests.compat.test_dflow_semantics import MAIN_CLASS_SCRIPT
from tests.compat.test_downstream_project import run_project_tests

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site-configs" / "slurm-test.toml"
pytestmark = pytest.mark.slurm


def test_downstream_project_tests_pass_on_slurm(tmp_path: Path) -> None:
    run_project_tests(tmp_path, site=SITE)


def test_main_class_instances_on_slurm(tmp_path: Path) -> None:
    proc = run_dflow_script(tmp_path, MAIN_CLASS_SCRIPT, site=SITE)
    assert proc.returncode == 0 and "SCRIPT-OK" in proc.stdout, explain(proc)
