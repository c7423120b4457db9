"""A workflow for the burst test: a plain step and a sliced step side by side, then a sum.

Run as a script on a Slurm site that bursts to Kubernetes. No step names an image: at home
they run on the Slurm node, in the cloud in the Kubernetes site's default_image. Prints
the workflow id and status.
"""

import json
import socket
import sys
from pathlib import Path
from typing import List

from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate, Slices


def where() -> str:
    image = Path("/etc/hpcflow-test-image")
    return "image" if image.exists() else socket.gethostname()


@OP.function
def first() -> {"where": str}:
    return {"where": where()}


@OP.function
def square(x: int) -> {"y": int, "where": str}:
    return {"y": x * x, "where": where()}


@OP.function
def total(ys: List[int], before: str) -> {"sum": int, "where": str}:
    return {"sum": sum(ys), "where": where()}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    wf = Workflow("burst")
    a = Step("first", PythonOPTemplate(first))
    scan = Step("scan", PythonOPTemplate(square, slices=Slices(input_parameter=["x"], output_parameter=["y", "where"])),
                parameters={"x": list(range(n))})
    wf.add([a, scan])
    wf.add(Step("total", PythonOPTemplate(total),
                parameters={"ys": scan.outputs.parameters["y"], "before": a.outputs.parameters["where"]}))
    wf.submit()
    status = wf.wait(timeout=600)
    out = {"id": wf.id, "status": status}
    if status == "Succeeded":
        out["sum"] = wf.query_step(name="total")[0].outputs.parameters["sum"].value
        out["scan"] = wf.query_step(name="scan", type="FanOut")[0].outputs.parameters["where"].value
    print(json.dumps(out))
