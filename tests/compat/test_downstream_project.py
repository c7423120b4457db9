"""A downstream project written for Dflow (tests/compat/downstream_project) passes its own
tests unchanged: ``hpcflow exec -- python -m pytest`` in a fresh copy of it, in local mode.
(``pytest`` is the console script of the Python hpcflow is installed in.) The same run on
the Slurm test cluster is in tests/slurm/test_slurm_dflow_compat.py."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from tests.compat.scripts import alias_env, explain, hpcflow_exec

PROJECT = Path(__file__).resolve().parent / "downstream_project"
#: How many tests the project has; a run that collects fewer has lost some.
PROJECT_TESTS = 9


def run_project_tests(tmp_path: Path, site: Path | None = None) -> str:
    copy = tmp_path / "minigen"
    shutil.copytree(PROJECT, copy)
    pytest_script = str(Path(sys.executable).parent / "pytest")  # `hpcflow exec -- pytest`
    proc = hpcflow_exec([pytest_script, "-q", "-p", "no:cacheprovider"], copy,
                        alias_env(tmp_path / "home", site), timeout=1800)
    assert proc.returncode == 0, explain(proc)
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) == PROJECT_TESTS, explain(proc)
    return proc.stdout


def test_downstream_project_tests_pass_in_local_mode(tmp_path: Path) -> None:
    run_project_tests(tmp_path)
