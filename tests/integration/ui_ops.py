"""OPs and a workflow for the dashboard tests: every kind of box the dashboard draws.

``dashboard_workflow`` has a Steps group with a sliced step in which two slices fail
(``continue_on_failed``), a PNG and an SVG output artifact, a ``when``-skipped step, a DAG
(a → b, a → c), a recursion of three iterations, and finally a step that prints to its
log and fails, so the workflow fails with a message naming it.
"""

from __future__ import annotations

import struct
import sys
import time
import zlib
from pathlib import Path
from typing import List

from hpcflow import DAG, InputParameter, Inputs, Step, Steps, Task, Workflow
from hpcflow.python import OP, Artifact, FatalError, PythonOPTemplate, Slices
from tests.integration import wf_ops as ops

ERROR_TEXT = "geometry optimisation did not converge after 200 steps"
LOG_TEXT = "relaxing structure 42: residual force 0.731 eV/A"

SVG_PLOT = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60">'
            '<rect width="120" height="60" fill="#cde"/><text x="10" y="35">E(V)</text></svg>')


def tiny_png(width: int = 24, height: int = 16) -> bytes:
    """A valid PNG of a colour gradient, written without any imaging library."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (10 * x % 256, 12 * y % 256, 128))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@OP.function
def plot(n: int) -> {"png": Artifact(Path), "svg": Artifact(Path)}:
    Path("eos.png").write_bytes(tiny_png(8 * n, 16))
    Path("eos.svg").write_text(SVG_PLOT)
    return {"png": Path("eos.png"), "svg": Path("eos.svg")}


@OP.function
def chatty_fail(structure: int) -> {"energy": float}:
    for i in range(5):
        print(f"{LOG_TEXT} (iteration {i})", flush=True)
    print("x" * 50, file=sys.stderr, flush=True)
    raise FatalError(ERROR_TEXT)


@OP.function
def talk_until(go_file: str, lines: int) -> {"said": int}:
    """Print a line, wait (bounded) until ``go_file`` exists, print the rest: a running log."""
    print("first line of a running step", flush=True)
    deadline = time.monotonic() + 60
    while not Path(go_file).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for i in range(lines):
        print(f"later line {i}", flush=True)
    return {"said": lines + 1}


def loop_template() -> Steps:
    loop = Steps("countdown", inputs=Inputs(parameters={"i": InputParameter(), "n": InputParameter()}))
    inc = Step("inc", PythonOPTemplate(ops.add), parameters={"a": loop.inputs.parameters["i"]},
               key="iter-%s" % loop.inputs.parameters["i"])
    loop.add(inc)
    loop.add(Step("next", loop, parameters={"i": inc.outputs.parameters["c"], "n": loop.inputs.parameters["n"]},
                  when="%s < %s" % (inc.outputs.parameters["c"], loop.inputs.parameters["n"])))
    return loop


def diamond() -> DAG:
    dag = DAG("fork")
    a = Task("a", PythonOPTemplate(ops.add), parameters={"a": 1})
    b = Task("b", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"]})
    c = Task("c", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"], "b": 5})
    for t in (a, b, c):
        dag.add(t)
    return dag


def dashboard_workflow(log_dir: str, slices: int = 12) -> Workflow:
    wf = Workflow("dashboard")
    xs: List[int] = list(range(slices))
    screen = Step("screen", PythonOPTemplate(ops.fail_if, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
                  parameters={"x": xs, "bad": [3, 7], "log_dir": log_dir}, key="screen-{{item}}",
                  continue_on_failed=True)
    wf.add([screen, Step("plot", PythonOPTemplate(plot), parameters={"n": 3})])
    wf.add([Step("fork", diamond()),
            Step("countdown", loop_template(), parameters={"i": 0, "n": 3}),
            Step("never", PythonOPTemplate(ops.add), parameters={"a": 1}, when="1 > 2")])
    wf.add(Step("relax", PythonOPTemplate(chatty_fail), parameters={"structure": 42}))
    return wf


def run_dashboard_workflow(home: Path, log_dir: Path) -> str:
    """Run ``dashboard_workflow`` to its failure in a fresh store at ``home``; its id."""
    from hpcflow.client import reset_clients

    mp = _env(home)
    try:
        reset_clients()
        wf = dashboard_workflow(str(log_dir))
        wf.submit()
        status = wf.wait(timeout=120)
        assert status == "Failed", status
        return wf.id  # type: ignore[return-value]
    finally:
        reset_clients()
        mp.undo()


def _env(home: Path):  # type: ignore[no-untyped-def]
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("HPCFLOW_HOME", str(home))
    mp.setenv("HPCFLOW_NO_ATEXIT", "1")
    mp.delenv("HPCFLOW_SITE", raising=False)
    mp.delenv("HPCFLOW_SUBMIT_ONLY", raising=False)
    return mp
