"""What a sliced step leaves on the work root: at most 3 files or directories per slice
that succeeded, a per-job constant besides, and everything of a slice that failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from hpcflow.runtime import records as rec
from tests.helpers import entries_per_slice, job_dirs
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


def shout_workflow(name: str, width: int, bad: list[int]) -> Workflow:
    wf = Workflow(name)
    wf.add(Step("shout", PythonOPTemplate(ops.shout, slices=Slices(
        input_parameter=["x"], output_parameter=["y"])), parameters={"x": list(range(width)), "bad": bad}))
    return wf


def check_layout(wf: Workflow, width: int, bad: int, max_job_files: int) -> None:
    """The assertions shared with the Slurm test (tests/slurm/test_slurm_layout.py)."""
    attempts = wf._client.store.attempts(wf.id)
    work_dir = Path(wf.query()["work_dir"])
    per_slice = entries_per_slice(attempts)
    assert len(per_slice) == width
    failed = f"shout({bad})"
    ok = {path: n for path, n in per_slice.items() if path != failed}
    assert max(ok.values()) <= 3, ok  # the slice's directory, its attempt's, the exit record
    jobs = job_dirs(attempts, work_dir)
    assert len(jobs) == 1 and len(next(iter(jobs.values()))) <= max_job_files, jobs
    by_path = {a["node_path"]: Path(a["dir"]) for a in attempts}
    # a succeeded slice's log is its part of the job's merged log, found through its record
    found = rec.read_unit_log(by_path["shout(1)"])
    assert found is not None and found[1].strip() == "slice 1 says hello", found
    assert rec.read_outputs(by_path["shout(1)"], rec.read_exit(by_path["shout(1)"]) or {})["parameters"]
    # the failed slice keeps its own log, its error and its working directory
    unit = by_path[failed]
    record = rec.read_exit(unit) or {}
    assert record["status"] == "failed" and f"slice {bad} fails on purpose" in record["message"]
    log = (unit / rec.LOG_FILE).read_text()
    assert f"slice {bad} says hello" in log and "FatalError" in log
    assert (unit / rec.WORK_DIR).is_dir()


def test_a_sliced_step_leaves_at_most_three_entries_per_succeeded_slice():
    width, bad = 30, 7
    wf = shout_workflow("layout", width, [bad])
    wf.submit()
    assert wf.wait(timeout=120) == "Failed"
    # task list, merged log, job log, pid list, and the queue of the slices that waited
    # for a core (hpcflow.scheduler.local_pids)
    check_layout(wf, width, bad, max_job_files=5)
