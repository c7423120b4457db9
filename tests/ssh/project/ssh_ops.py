"""OPs of the SSH tests' workflows (shipped to the cluster as a module of the project)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List

from hpcflow.python import OP, Artifact


@OP.function
def square(x: int, marks: str, pause: float) -> {"y": int}:
    """One slice: leaves a marker line (to count how often each slice ran)."""
    with open(os.path.join(marks, f"slice-{x}"), "a") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(pause)
    return {"y": x * x}


@OP.function
def total(ys: List[int], data: Artifact(Path)) -> {"sum": int, "report": Artifact(Path)}:
    """The reduce: reads an artifact uploaded from the workstation, writes one back, and
    imports a module that only ``upload_packages`` ships."""
    from scalehelp import scaled

    scale = int(Path(data).read_text().split()[0])
    result = scaled(sum(ys), scale)
    out = Path("report.txt")
    out.write_text(f"sum={result}\n")
    return {"sum": result, "report": out}
