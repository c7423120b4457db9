"""A fan-out of N slices and a reduce reading an artifact uploaded from this machine.

    python fanout_wf.py N MARKS_DIR [--pause S] [--group G] [--no-wait]

Prints ``submitted ID``, then (unless --no-wait) the status, the sum and the report's text.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ssh_ops import square, total

from hpcflow import Step, Workflow, download_artifact, upload_artifact
from hpcflow.python import PythonOPTemplate, Slices, upload_packages

#: Not importable from this directory: the jobs get it only because it is shipped.
HELPER = str(Path(__file__).resolve().parent / "extras" / "scalehelp.py")


def build(n: int, marks: str, pause: float, group: int, scale_file: Path) -> Workflow:
    if HELPER not in upload_packages:
        upload_packages.append(HELPER)
    wf = Workflow("fanout")
    fan = Step("fan", PythonOPTemplate(square, slices=Slices(input_parameter=["x"], output_parameter=["y"],
                                                              group_size=group)),
               parameters={"x": list(range(n)), "marks": marks, "pause": pause})
    wf.add(fan)
    wf.add(Step("total", PythonOPTemplate(total),
                parameters={"ys": fan.outputs.parameters["y"]},
                artifacts={"data": upload_artifact(scale_file)}))
    return wf


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("marks")
    ap.add_argument("--pause", type=float, default=0.0)
    ap.add_argument("--group", type=int, default=1)
    ap.add_argument("--no-wait", action="store_true")
    args = ap.parse_args(argv)
    scale = Path(tempfile.mkdtemp()) / "scale.txt"
    scale.write_text("3\n")
    wf = build(args.n, args.marks, args.pause, args.group, scale)
    wf.submit()
    print("submitted", wf.id, flush=True)
    if args.no_wait:
        return 0
    status = wf.wait()
    step = wf.query_step(name="total")[0]
    got = download_artifact(step.outputs.artifacts["report"], Path(tempfile.mkdtemp()))
    print(status, step.outputs.parameters["sum"].value, Path(got[0]).read_text().strip())
    return 0 if status == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
