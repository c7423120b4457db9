"""Fixtures of the dashboard tests: one store with a failed workflow per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import ui_ops


@pytest.fixture(scope="module")
def dash_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(HPCFLOW_HOME, workflow id) of the dashboard workflow, run to its failure."""
    home = tmp_path_factory.mktemp("ui") / "home"
    wf_id = ui_ops.run_dashboard_workflow(home, tmp_path_factory.mktemp("ui-logs"))
    return home, wf_id
