"""Run the units of one job: one unit, or a group of slices serially or in a process pool."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hpcflow.runtime.execute import run_unit


def main(argv: list[str]) -> int:
    pool = 1
    args = list(argv)
    if args[:1] == ["--sequence"]:  # fused steps: each reads the one before; stop at a failure
        units = [Path(a) for a in args[1:]]
        return 0 if all(run_unit(u) for u in units) else 1
    if args[:1] == ["--pool"]:
        pool = int(args[1])
        args = args[2:]
    if not args:
        print("usage: python -m hpcflow.runtime [--pool N | --sequence] UNIT_DIR [UNIT_DIR ...]",
              file=sys.stderr)
        return 2
    units = [Path(a) for a in args]
    if pool == -1:
        pool = os.cpu_count() or 1
    if pool <= 1 or len(units) == 1:
        results = [run_unit(u) for u in units]
    else:
        results = _run_pool(units, pool)
    return 0 if all(results) else 1


def _run_pool(units: list[Path], size: int) -> list[bool]:
    """Fork workers so each unit gets its own process (and its own alarm for timeouts)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(size, len(units)), maxtasksperchild=1) as pool:
        return pool.map(run_unit, units, chunksize=1)
