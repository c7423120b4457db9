"""The cron-only test of tests/integration/test_cron_ticks.py on the real cluster: a job
killed on its node leaves no exit record, and fresh `hpcflow tick` processes alone (the
site's grace period is 10 s, longer than the gap between two ticks) declare it lost and
run its unit again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.integration.test_cron_ticks import _attempts, _marks, _project, _submit, _tick_until
from tests.integration.test_user_project import SLURM_SITE, user_env

pytestmark = pytest.mark.slurm


def test_cron_ticks_declare_a_job_killed_on_its_node_lost_and_retry_it(tmp_path: Path):
    project, marks = _project(tmp_path, n=3, hold=1, nap=0)
    env = user_env(tmp_path / "home", SLURM_SITE)
    wf_id = _submit(project, env)
    held = marks / "held"
    _tick_until(wf_id, env, timeout=120, done=held.exists)
    assert held.exists(), "slice 1 never started"
    os.kill(int(held.read_text()), signal.SIGKILL)  # the array task fails without a record

    state = _tick_until(wf_id, env, timeout=180)

    assert state["status"] == "Succeeded", state["message"]
    assert _attempts(state) == {"work(0)": 1, "work(1)": 2, "work(2)": 1}
    assert _marks(marks, "start") == {0: 1, 1: 2, 2: 1}
    assert _marks(marks, "done") == {0: 1, 1: 1, 2: 1}
    step = next(s for s in state["steps"] if s["name"] == "work")
    assert step["outputs"]["parameters"]["y"] == [0, 10, 20]
