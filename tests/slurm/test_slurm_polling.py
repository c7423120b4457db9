"""Adaptive polling on the real test cluster: a workflow driven the way a user drives it
(``wf.submit()`` then ``wf.wait()``) succeeds with the right results while squeue is asked
far less often than the engine ticks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from tests.integration import wf_ops as ops

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site-configs" / "slurm-test.toml"
pytestmark = pytest.mark.slurm



def test_squeue_calls_are_bounded_and_results_correct(slurm_home: Path, tmp_path: Path) -> None:
    from hpcflow.engine.engine import Engine
    from hpcflow.scheduler.slurm import backend

    ticks = 0
    inner = Engine.tick

    def counted(self):  # type: ignore[no-untyped-def]
        nonlocal ticks
        ticks += 1
        return inner(self)

    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    wf = Workflow("s-poll")
    sq = Step("sq", PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
              parameters={"x": values})
    nap = Step("nap", PythonOPTemplate(ops.sleepy), parameters={"seconds": 6, "log_dir": str(tmp_path)})
    tot = Step("tot", PythonOPTemplate(ops.total), parameters={"values": sq.outputs.parameters["y"]})
    wf.add([sq, nap])
    wf.add(tot)
    backend.reset_command_counts()
    Engine.tick = counted  # type: ignore[method-assign]
    try:
        t0 = time.monotonic()
        wf.submit()
        status = wf.wait(timeout=300)
        elapsed = time.monotonic() - t0
    finally:
        Engine.tick = inner  # type: ignore[method-assign]
    assert status == "Succeeded", [(s.path, s.phase, s.message) for s in wf.query_step()]
    assert wf.query_step(name="tot")[0].outputs.parameters["sum"].value == sum(v * v for v in values)
    squeue = backend.COMMAND_COUNTS["squeue"]
    # at most one query a second (the policy's shortest gap) plus the first one
    assert 1 <= squeue <= elapsed / 1.0 + 2, (squeue, elapsed)
    assert squeue < ticks, (squeue, ticks)  # ticks without a due query do not ask
    assert backend.COMMAND_COUNTS["squeue --version"] <= 1  # probed once
