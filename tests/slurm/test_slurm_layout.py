"""On the real cluster: what a sliced step leaves on the work root, and cancelling a whole
array with one short scancel."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from hpcflow.scheduler.slurm.backend import COMMAND_COUNTS
from tests.helpers import count
from tests.integration import wf_ops as ops
from tests.integration.test_unit_layout import check_layout, shout_workflow
from tests.slurm.test_slurm_workflows import slurm_ids

pytestmark = pytest.mark.slurm


def test_a_sliced_step_on_slurm_leaves_at_most_three_entries_per_succeeded_slice(slurm_home: Path):  # noqa: F811
    width, bad = 40, 11
    wf = shout_workflow("s-layout", width, [bad])
    wf.submit()
    assert wf.wait(timeout=300) == "Failed"
    # script, argv, task list, merged log, one slurm .out and .err for the whole array
    check_layout(wf, width, bad, max_job_files=6)


class RecordingTransport:
    """The scheduler's own transport, with every argv it runs kept for the assertions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    def run(self, argv: Any, **kwargs: Any) -> Any:
        self.calls.append(list(argv))
        return self.inner.run(argv, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_cancelling_a_whole_array_is_one_scancel_of_its_id(slurm_home: Path, tmp_path: Path):  # noqa: F811
    width = 50
    wf = Workflow("s-cancel-array")
    wf.add(Step("nap", PythonOPTemplate(ops.nap, slices=Slices(input_parameter=["tag"], output_parameter=["done"])),
                parameters={"seconds": 300, "log_dir": str(tmp_path), "tag": [f"n{i}" for i in range(width)]}))
    wf.submit()
    deadline = time.time() + 120
    while count(tmp_path, "n0-start") == 0 and time.time() < deadline:
        time.sleep(0.2)
    ids = slurm_ids(wf)
    assert len(ids) == width and len({i.split("_")[0] for i in ids}) == 1
    client = wf._client
    scheduler = client.scheduler.home  # the site's Slurm scheduler, inside the routing wrapper
    transport = RecordingTransport(scheduler.transport)
    scheduler.transport = transport
    before = COMMAND_COUNTS["scancel"]
    try:
        with client.lock:  # as `hpcflow cancel` does: never inside another tick
            assert client.engine(only={wf.id}).cancel(wf.id) == width
    finally:
        scheduler.transport = transport.inner
    assert COMMAND_COUNTS["scancel"] - before == 1
    (scancel,) = [c for c in transport.calls if c[0] == "scancel"]
    base = ids[0].split("_")[0]
    assert scancel[1:] in ([base], [f"{base}_[0-{width - 1}]"]), scancel
    deadline = time.time() + 60
    while time.time() < deadline:
        queue = subprocess.run(["squeue", "-h", "-j", base, "-o", "%i %T"], capture_output=True, text=True).stdout
        if "RUNNING" not in queue and "PENDING" not in queue:
            break
        time.sleep(0.5)
    assert "RUNNING" not in queue and "PENDING" not in queue, queue
