"""The three benchmark workloads, written once against the Dflow API.

The same file runs on hpcflow and on Dflow's debug mode: ``--engine dflow`` imports
``dflow`` instead of ``hpcflow`` (the only difference, as for a user switching).

    python bench/workloads.py W1 --engine hpcflow
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import List


def build(engine: str, workload: str):  # noqa: C901 - three small workflows
    flow = importlib.import_module(engine)
    py = importlib.import_module(f"{engine}.python")
    if engine == "dflow":
        flow.config["mode"] = "debug"
    OP, PythonOPTemplate, Slices = py.OP, py.PythonOPTemplate, py.Slices
    Step, Steps, Workflow = flow.Step, flow.Steps, flow.Workflow

    @OP.function
    def inc(x: int) -> {"y": int}:
        return {"y": x + 1}

    @OP.function
    def reduce_sum(ys: List[int]) -> {"total": int}:
        return {"total": sum(ys)}

    wf = Workflow(f"bench-{workload.lower()}")
    if workload == "W1":
        fan = Step("fan", PythonOPTemplate(inc, image="python:3.11", slices=Slices(
            "{{item}}", input_parameter=["x"], output_parameter=["y"])),
            parameters={"x": list(range(200))}, with_param=flow.argo_range(200))
        red = Step("reduce", PythonOPTemplate(reduce_sum, image="python:3.11"),
                   parameters={"ys": fan.outputs.parameters["y"]})
        wf.add(fan)
        wf.add(red)
        expect = ("reduce", "total", sum(range(1, 201)))
    elif workload == "W2":
        prev = None
        for i in range(30):
            x = 0 if prev is None else prev.outputs.parameters["y"]
            prev = Step(f"s{i}", PythonOPTemplate(inc, image="python:3.11"), parameters={"x": x})
            wf.add(prev)
        expect = ("s29", "y", 30)
    else:
        loop = Steps("loop", inputs=flow.Inputs(parameters={"i": flow.InputParameter()}))
        step = Step("inc", PythonOPTemplate(inc, image="python:3.11"), parameters={"x": loop.inputs.parameters["i"]})
        loop.add(step)
        loop.add(Step("next", loop, parameters={"i": step.outputs.parameters["y"]},
                      when="%s < 10" % step.outputs.parameters["y"]))
        wf.add(Step("loop", loop, parameters={"i": 0}))
        expect = ("inc", "y", None)
    return wf, expect


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["W1", "W2", "W3"])
    parser.add_argument("--engine", choices=["hpcflow", "dflow"], default="hpcflow")
    args = parser.parse_args()
    t0 = time.perf_counter()
    wf, (name, param, value) = build(args.engine, args.workload)
    wf.submit()
    while wf.query_status() in ("Pending", "Running"):
        time.sleep(0.01 if args.engine == "hpcflow" else 0.1)
    elapsed = time.perf_counter() - t0
    status = wf.query_status()
    steps = wf.query_step(name=name)
    got = steps[-1].outputs.parameters[param].value if steps else None
    ok = status == "Succeeded" and (value is None or int(got) == value)
    print(f"RESULT {args.workload} {args.engine} {elapsed:.3f} {'ok' if ok else 'FAILED'} {status}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
