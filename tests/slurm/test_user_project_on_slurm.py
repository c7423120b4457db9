"""The user's-project test of tests/integration/test_user_project.py on the real cluster."""

from __future__ import annotations

import pytest

from tests.integration.test_user_project import SLURM_SITE, login_node, run_with_daemon, user_env

pytestmark = pytest.mark.slurm
__all__ = ["login_node"]  # the fixture, imported so pytest finds it here


def test_daemon_runs_ops_from_the_users_modules_on_slurm(login_node):
    project, elsewhere, home = login_node
    run_with_daemon(project, elsewhere, user_env(home, SLURM_SITE), timeout=180)
