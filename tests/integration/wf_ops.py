"""OPs used by the engine tests. Importable by jobs (the repository root is on their path).

Several OPs record each execution by appending to a file in ``log_dir``, so tests can
count how often a step really ran.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import List

from hpcflow.python import OP, OPIO, Artifact, FatalError, OPIOSign, Parameter, TransientError


def record(log_dir: str, name: str) -> int:
    """Append one line to ``log_dir/name`` and return how many executions there were."""
    path = Path(log_dir) / name
    with open(path, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    return len(path.read_text().splitlines())


@OP.function
def add(a: int, b: int = 1) -> {"c": int}:
    return {"c": a + b}


@OP.function
def counted_add(a: int, log_dir: str, tag: str = "add") -> {"c": int}:
    record(log_dir, tag)
    return {"c": a + 1}


@OP.function
def square(x: float) -> {"y": float}:
    return {"y": x * x}


@OP.function
def total(values: List[float]) -> {"sum": float, "n": int}:
    return {"sum": float(sum(values)), "n": len(values)}


@OP.function
def write_file(name: str, content: str) -> {"out": Artifact(Path)}:
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_text(content)
    return {"out": Path(name)}


@OP.function
def make_dir(n: int) -> {"out": Artifact(Path), "files": Artifact(List[Path])}:
    d = Path("made")
    d.mkdir()
    files = []
    for i in range(n):
        (d / f"f{i}.txt").write_text(str(i))
        files.append(d / f"f{i}.txt")
    return {"out": d, "files": files}


@OP.function
def read_text(f: Artifact(Path)) -> {"text": str}:
    return {"text": Path(f).read_text()}


@OP.function
def read_all(files: Artifact(List[Path])) -> {"texts": List[str]}:
    return {"texts": [Path(f).read_text() for f in files]}


@OP.function
def flaky(log_dir: str, fail_times: int) -> {"attempt": int}:
    """Raise TransientError until it has been called ``fail_times`` times."""
    n = record(log_dir, "flaky")
    if n <= fail_times:
        raise TransientError(f"transient failure number {n}")
    return {"attempt": n}


@OP.function
def fatal(log_dir: str) -> {"x": int}:
    record(log_dir, "fatal")
    raise FatalError("this cannot work")


@OP.function
def sleepy(seconds: float, log_dir: str) -> {"done": bool}:
    n = record(log_dir, "sleepy-start")
    time.sleep(seconds if n == 1 else 0)
    record(log_dir, "sleepy-end")
    return {"done": True}


@OP.function
def fail_if(x: int, bad: List[int], log_dir: str) -> {"y": int}:
    record(log_dir, f"slice-{x}")
    if x in bad:
        raise FatalError(f"slice {x} fails on purpose")
    return {"y": x * 10}


@OP.function
def concurrency(x: int, log_dir: str, hold: float) -> {"peak": int}:
    """Measure how many of these run at once, via files that exist while each runs."""
    marker = Path(log_dir) / f"running-{x}"
    marker.write_text("")
    time.sleep(hold)
    peak = len(list(Path(log_dir).glob("running-*")))
    marker.unlink()
    return {"peak": peak}


class Duplicate(OP):
    """A class OP with a list output and a default parameter."""

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign({"msg": str, "times": Parameter(int, default=2)})

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign({"msgs": List[str]})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"msgs": [op_in["msg"]] * op_in["times"]})


@OP.function
def nap(seconds: float, log_dir: str, tag: str) -> {"done": bool}:
    record(log_dir, f"{tag}-start")
    time.sleep(seconds)
    record(log_dir, f"{tag}-end")
    return {"done": True}


@OP.function
def append_to(f: Artifact(Path), text: str) -> {"done": bool}:
    """Edits its input file in place, which OPs must not do (the checksum tests)."""
    with open(f, "a") as fh:
        fh.write(text)
    return {"done": True}


@OP.function
def shout(x: int, bad: List[int]) -> {"y": int}:
    """Prints a line (so its log is not empty); the slices in ``bad`` fail."""
    print(f"slice {x} says hello")
    if x in bad:
        raise FatalError(f"slice {x} fails on purpose")
    return {"y": x * 10}


@OP.function
def hold_until(release: str, log_dir: str, tag: str) -> {"tag": str}:
    """Runs until the file ``release`` exists (at most a minute): a unit that stays in flight
    for as long as a test needs."""
    record(log_dir, f"{tag}-start")
    deadline = time.time() + 60
    while not Path(release).exists() and time.time() < deadline:
        time.sleep(0.02)
    return {"tag": tag}
