"""A sliced workflow whose OPs run in the test image on the stand-in Kubernetes cluster.

Run as a script (``python wf_slices.py N FLAKY GROUP SLOW_FROM``): N slices (GROUP per
index), one transient failure of the slices listed in FLAKY (comma-separated) on their
first attempt, and first attempts of slices SLOW_FROM and up that sleep a minute. Prints the workflow id,
its status and the outputs.
"""

import json
import os
import sys
from pathlib import Path
from typing import List

from hpcflow import Step, Workflow
from hpcflow.python import OP, Artifact, PythonOPTemplate, Slices, TransientError

IMAGE = os.environ.get("HPCFLOW_TEST_IMAGE", "/var/tmp/hpcflow-test-image")


def attempt_number() -> int:
    """This unit's attempt (its task record sits beside the working directory)."""
    task = json.loads(Path("../task.json").read_text())
    return int(task["artifact_prefix"].rsplit("attempt-", 1)[1])


@OP.function
def square(x: int, flaky: List[int], slow_from: int) -> {"y": int, "image": str, "report": Artifact(Path)}:
    if x in flaky and attempt_number() == 1:
        raise TransientError(f"slice {x}: a transient failure on the first attempt")
    if 0 <= slow_from <= x and attempt_number() == 1:  # long first attempts, to be interrupted
        import time

        time.sleep(60)
    report = Path("report.txt")
    report.write_text(f"{x} squared is {x * x}\n")
    marker = Path("/etc/hpcflow-test-image").read_text().split(",")[0]
    return {"y": x * x, "image": marker, "report": report}


@OP.function
def total(ys: List[int], reports: Artifact(List[Path])) -> {"sum": int, "lines": List[str]}:
    return {"sum": sum(ys), "lines": [Path(r).read_text().strip() for r in reports]}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    flaky = [int(v) for v in sys.argv[2].split(",") if v] if len(sys.argv) > 2 else []
    group = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    slow_from = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    wf = Workflow("k8s-slices")
    scan = Step("scan", PythonOPTemplate(square, image=IMAGE, retry_on_transient_error=2,
                                         slices=Slices(input_parameter=["x"], output_parameter=["y", "image"],
                                                       output_artifact=["report"], group_size=group)),
                parameters={"x": list(range(n)), "flaky": flaky, "slow_from": slow_from})
    wf.add(scan)
    wf.add(Step("total", PythonOPTemplate(total, image=IMAGE),
                parameters={"ys": scan.outputs.parameters["y"]},
                artifacts={"reports": scan.outputs.artifacts["report"]}))
    wf.submit()
    status = wf.wait(timeout=float(os.environ.get("WF_TIMEOUT", "600")))
    out = {"id": wf.id, "status": status}
    if status == "Succeeded":
        t = wf.query_step(name="total")[0].outputs.parameters
        out.update(sum=t["sum"].value, lines=t["lines"].value,
                   images=wf.query_step(name="scan", type="FanOut")[0].outputs.parameters["image"].value)
    else:
        out["steps"] = [(s.name, s.phase, s.message) for s in wf.query_step()]
    print(json.dumps(out))
