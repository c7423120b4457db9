"""The three benchmark workloads, written once against the Dflow API.

The same file runs on hpcflow and on Dflow's debug mode: with ``BENCH_ENGINE=dflow`` it
imports ``dflow`` instead of ``hpcflow`` (the only difference, as for a user switching).
OPs are defined at module level because Dflow's debug mode re-reads their source.

    BENCH_ENGINE=hpcflow python bench/workloads.py W1
"""

# No `from __future__ import annotations`: Dflow reads return annotations as objects.
import os
import sys
import time
from typing import List

if os.environ.get("BENCH_ENGINE", "hpcflow") == "dflow":
    from dflow import InputParameter, Inputs, Step, Steps, Workflow, argo_range, config
    from dflow.python import OP, PythonOPTemplate, Slices

    config["mode"] = "debug"
else:
    from hpcflow import InputParameter, Inputs, Step, Steps, Workflow, argo_range
    from hpcflow.python import OP, PythonOPTemplate, Slices


@OP.function
def inc(x: int) -> {"y": int}:
    return {"y": x + 1}


@OP.function
def reduce_sum(ys: List[int]) -> {"total": int}:
    return {"total": sum(ys)}


def w1():
    """200-slice fan-out of a trivial Python OP, then a reduce."""
    wf = Workflow("bench-w1")
    fan = Step("fan", PythonOPTemplate(inc, image="python:3.11", slices=Slices(
        "{{item}}", input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(200))}, with_param=argo_range(200))
    wf.add(fan)
    wf.add(Step("reduce", PythonOPTemplate(reduce_sum, image="python:3.11"),
                parameters={"ys": fan.outputs.parameters["y"]}))
    return wf, ("reduce", "total", sum(range(1, 201)))


def w2():
    """30 sequential trivial steps."""
    wf = Workflow("bench-w2")
    prev = None
    for i in range(30):
        x = 0 if prev is None else prev.outputs.parameters["y"]
        prev = Step(f"s{i}", PythonOPTemplate(inc, image="python:3.11"), parameters={"x": x})
        wf.add(prev)
    return wf, ("s29", "y", 30)


def w3():
    """A 10-iteration recursive loop."""
    loop = Steps("loop", inputs=Inputs(parameters={"i": InputParameter()}))
    step = Step("inc", PythonOPTemplate(inc, image="python:3.11"), parameters={"x": loop.inputs.parameters["i"]})
    loop.add(step)
    loop.add(Step("next", loop, parameters={"i": step.outputs.parameters["y"]},
                  when="%s < 10" % step.outputs.parameters["y"]))
    wf = Workflow("bench-w3")
    wf.add(Step("loop", loop, parameters={"i": 0}))
    return wf, ("inc", "y", None)


def main() -> int:
    workload = sys.argv[1]
    engine = os.environ.get("BENCH_ENGINE", "hpcflow")
    t0 = time.perf_counter()
    wf, (name, param, value) = {"W1": w1, "W2": w2, "W3": w3}[workload]()
    wf.submit()
    while wf.query_status() in ("Pending", "Running"):
        time.sleep(0.01 if engine == "hpcflow" else 0.1)
    elapsed = time.perf_counter() - t0
    status = wf.query_status()
    steps = wf.query_step(name=name)
    got = steps[-1].outputs.parameters[param].value if steps else None
    ok = status == "Succeeded" and (value is None or int(got) == value)
    print(f"RESULT {workload} {engine} {elapsed:.3f} {'ok' if ok else 'FAILED'} {status}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
