"""OPs of the chaining and fusion tests. Importable by jobs (the repository root is on
their path). Each execution appends a line to ``log_dir/<tag>``; a marker file
``log_dir/fail-<tag>`` makes the next execution fail once (it is removed), and
``log_dir/fatal-<tag>`` makes every execution fail for good."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

from hpcflow.python import OP, Artifact, FatalError, TransientError


def _record(log_dir: str, tag: str) -> None:
    with open(Path(log_dir) / tag, "a") as fh:
        fh.write(f"{os.getpid()}\n")


def _maybe_fail(log_dir: str, tag: str) -> None:
    if (Path(log_dir) / f"fatal-{tag}").exists():
        raise FatalError(f"{tag} cannot work")
    marker = Path(log_dir) / f"fail-{tag}"
    if marker.exists():
        marker.unlink()
        raise TransientError(f"{tag} fails once")


@OP.function
def step(x: int, log_dir: str, tag: str, sleep: float = 0.0) -> {"y": int}:
    """y = x + 1, recorded; fails as the markers say; sleeps ``sleep`` seconds first."""
    import time

    time.sleep(sleep)
    _record(log_dir, tag)
    _maybe_fail(log_dir, tag)
    return {"y": x + 1}


@OP.function
def step_then_exit_nonzero(x: int, log_dir: str, tag: str) -> {"y": int}:
    """Succeeds (its exit record says so), then the job's process exits with status 3."""
    import atexit

    _record(log_dir, tag)
    atexit.register(os._exit, 3)
    return {"y": x + 1}


@OP.function
def make_file(x: int, log_dir: str, tag: str) -> {"out": Artifact(Path)}:
    _record(log_dir, tag)
    _maybe_fail(log_dir, tag)
    path = Path(f"value-{x}.txt")
    path.write_text(str(x))
    return {"out": path}


@OP.function
def read_files(files: Artifact(List[Path]), log_dir: str, tag: str) -> {"total": int}:
    _record(log_dir, tag)
    return {"total": sum(int(Path(f).read_text()) for f in files)}


@OP.function
def total(ys: List[int], log_dir: str, tag: str) -> {"total": int}:
    _record(log_dir, tag)
    _maybe_fail(log_dir, tag)
    return {"total": sum(ys)}


def runs(log_dir: str | Path, tag: str) -> int:
    """How many times the OP with ``tag`` ran."""
    path = Path(log_dir) / tag
    return len(path.read_text().splitlines()) if path.exists() else 0


def chain(name: str, n: int, log_dir: str | Path, fuse: bool = False, retry: int = 1,
          first_sleep: float = 0.0) -> object:
    """A workflow of ``n`` sequential steps ``s0 ... s{n-1}``, each y = x + 1 from the one
    before (``Steps(fuse=fuse)``); the last one's y is ``n``."""
    from hpcflow import Step, Steps, Workflow
    from hpcflow.python import PythonOPTemplate

    wf = Workflow(name, steps=Steps(f"{name}-steps", fuse=fuse))
    prev = None
    for i in range(n):
        x = 0 if prev is None else prev.outputs.parameters["y"]
        prev = Step(f"s{i}", PythonOPTemplate(step, retry_on_transient_error=retry),
                    parameters={"x": x, "log_dir": str(log_dir), "tag": f"s{i}",
                                "sleep": first_sleep if i == 0 else 0.0})
        wf.add(prev)
    return wf


def fan_fan_reduce(name: str, n: int, log_dir: str | Path) -> object:
    """A fan-out ``a`` of ``n`` slices (y = i + 1), a fan-out ``b`` sliced over a's stacked y
    (y = i + 2) and a reduce ``total`` of b's y."""
    from hpcflow import Step, Workflow, argo_range
    from hpcflow.python import PythonOPTemplate, Slices

    def sliced() -> Slices:
        return Slices("{{item}}", input_parameter=["x"], output_parameter=["y"])

    wf = Workflow(name)
    a = Step("a", PythonOPTemplate(step, slices=sliced()),
             parameters={"x": list(range(n)), "log_dir": str(log_dir), "tag": "a"}, with_param=argo_range(n))
    b = Step("b", PythonOPTemplate(step, slices=sliced()),
             parameters={"x": a.outputs.parameters["y"], "log_dir": str(log_dir), "tag": "b"},
             with_param=argo_range(n))
    wf.add(a)
    wf.add(b)
    wf.add(Step("total", PythonOPTemplate(total), parameters={
        "ys": b.outputs.parameters["y"], "log_dir": str(log_dir), "tag": "total"}))
    return wf
