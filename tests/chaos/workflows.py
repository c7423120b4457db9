"""The workflow scripts the chaos tests write into a project directory, as a user would.

Every OP is defined in the script itself (``__main__``, shipped by cloudpickle) and marks its
start and end in a marker file (see markers.py). Results are plain functions of the inputs,
so a faulted run must give exactly what a fault-free run gives.
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos.markers import MARK_SOURCE

HEADER = '''
import os
import time
from pathlib import Path
from typing import List

from hpcflow import (InputParameter, Inputs, OutputParameter, Outputs, Step, Steps, Workflow,
                     if_expression)
from hpcflow.python import OP, FatalError, PythonOPTemplate, Slices

MARKER = {marker!r}
NAP = {nap!r}
'''


def _script(marker: Path, nap: float, body: str, **values: object) -> str:
    return HEADER.format(marker=str(marker), nap=nap) + MARK_SOURCE + body.format(**values)


ARRAY = '''

def wait_for(gate):
    """Block until the test opens the gate (never longer than 10 minutes)."""
    deadline = time.time() + 600
    while gate and not os.path.exists(gate):
        if time.time() > deadline:
            raise FatalError(f"gate {{gate}} never opened")
        time.sleep(0.2)


@OP.function
def square(x: int) -> {{"y": int}}:
    mark(MARKER, "start")
    time.sleep(NAP * (1 + x % 3))
    wait_for({slice_gate!r})
    mark(MARKER, "end")
    return {{"y": x * x}}


@OP.function
def total(ys: List[int], gate: str) -> {{"sum": int, "n": int}}:
    mark(MARKER, "start")
    wait_for(gate)
    mark(MARKER, "end")
    return {{"sum": sum(ys), "n": len(ys)}}


for _ in range({copies}):
    wf = Workflow({name!r})
    sq = Step("square", PythonOPTemplate(square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
              parameters={{"x": list(range({width}))}}, parallelism={parallelism})
    wf.add(sq)
    wf.add(Step("total", PythonOPTemplate(total), parameters={{"ys": sq.outputs.parameters["y"], "gate": {gate!r}}}))
    wf.submit()
'''


def array_script(marker: Path, nap: float, gate: str = "", width: int = 60,
                 parallelism: int | None = None, name: str = "chaos-array",
                 gated_slices: bool = False, copies: int = 1) -> str:
    """``copies`` workflows of a ``width``-slice array (one job array), then one step summing
    it. The sum waits for ``gate`` to exist, or the slices do if ``gated_slices``."""
    return _script(marker, nap, ARRAY, name=name, width=width, parallelism=parallelism,
                   gate="" if gated_slices else gate, slice_gate=gate if gated_slices else "",
                   copies=copies)


LOOP = '''

@OP.function
def grow(i: int, x: int) -> {{"x": int}}:
    mark(MARKER, "start")
    time.sleep(NAP)
    mark(MARKER, "end")
    return {{"x": 3 * x + i}}


@OP.function
def spread(k: int, x: int) -> {{"v": int}}:
    mark(MARKER, "start")
    time.sleep(NAP * (1 + k))
    mark(MARKER, "end")
    return {{"v": x * (k + 2)}}


@OP.function
def fold(vs: List[int]) -> {{"x": int}}:
    mark(MARKER, "start")
    time.sleep(NAP)
    mark(MARKER, "end")
    return {{"x": sum(vs) % 1000003}}


loop = Steps("chain", inputs=Inputs(parameters={{"i": InputParameter(), "n": InputParameter(),
                                                 "x": InputParameter()}}),
             outputs=Outputs(parameters={{"x": OutputParameter(), "iterations": OutputParameter()}}))
i = loop.inputs.parameters["i"]
n = loop.inputs.parameters["n"]
g = Step("grow", PythonOPTemplate(grow), parameters={{"i": i, "x": loop.inputs.parameters["x"]}})
loop.add(g)
s = Step("spread", PythonOPTemplate(spread, slices=Slices(input_parameter=["k"], output_parameter=["v"])),
         parameters={{"k": [0, 1, 2], "x": g.outputs.parameters["x"]}})
loop.add(s)
f = Step("fold", PythonOPTemplate(fold), parameters={{"vs": s.outputs.parameters["v"]}})
loop.add(f)
go_on = "%s < %s" % (i + 1, n)
nxt = Step("next", loop, parameters={{"i": i + 1, "n": n, "x": f.outputs.parameters["x"]}}, when=go_on)
loop.add(nxt)
loop.outputs.parameters["x"].value_from_expression = if_expression(
    _if=go_on, _then=nxt.outputs.parameters["x"], _else=f.outputs.parameters["x"])
loop.outputs.parameters["iterations"].value_from_expression = if_expression(
    _if=go_on, _then=nxt.outputs.parameters["iterations"], _else=i + 1)

wf = Workflow({name!r})
wf.add(Step("chain", loop, parameters={{"i": 0, "n": {iterations}, "x": 1}}))
wf.submit()
'''


def loop_script(marker: Path, nap: float, iterations: int = 3, name: str = "chaos-loop") -> str:
    """A recursive Steps: ``iterations`` rounds of grow -> spread (3 slices) -> fold."""
    return _script(marker, nap, LOOP, name=name, iterations=iterations)
