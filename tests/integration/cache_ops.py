"""OPs of the result-cache tests; each execution appends a line to ``log_dir/<name>``."""

from __future__ import annotations

from pathlib import Path

from hpcflow.python import OP, Artifact
from tests.integration.wf_ops import record


@OP.function
def upper(f: Artifact(Path), log_dir: str) -> {"out": Artifact(Path)}:
    record(log_dir, "upper")
    out = Path("upper.txt")
    out.write_text(Path(f).read_text().upper())
    return {"out": out}


@OP.function
def measure(f: Artifact(Path), log_dir: str) -> {"n": int}:
    record(log_dir, "measure")
    return {"n": len(Path(f).read_text())}
