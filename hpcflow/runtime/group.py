"""Run the units of one job: one unit, or a group of slices serially or in a process pool.

``--tasks FILE --index N`` runs the units of array task N of the job's task list (the
layout the engine writes); bare unit directories run the units whose ``task.json`` is in
them (attempts prepared before task lists, and Kubernetes pods). ``--sequence`` runs the
units of fused steps in order and stops at the first failure (each reads the one before).
"""

from __future__ import annotations

import os
import sys

from hpcflow.runtime.execute import run_unit

#: A unit to run: its directory, its task record (None: read ``task.json``), and the job's
#: merged log (None: the unit keeps its own). Paths are ``str``: no ``pathlib`` in a task.
Unit = tuple[str, object, "str | None"]

_USAGE = ("usage: python -m hpcflow.runtime [--pool N | --sequence] "
          "(--tasks FILE --index N | UNIT_DIR ...)")


def run_job(argv: list[str]) -> int:
    """:func:`main` as a job's whole process runs it, its garbage collection set for a
    process that ends right after: what ``python -m hpcflow.runtime`` and a Python batch
    script call."""
    import gc

    # Everything imported so far lives until the process ends: frozen, the OP's own
    # collections do not walk it again.
    gc.freeze()
    code = main(argv)
    # The records are written. The interpreter's teardown still clears the modules, closes
    # files and runs atexit; frozen, its final collections skip every object the imports
    # and the units made: ~3.5 ms of CPU per task (bench/README.md), paid by every slice.
    gc.freeze()
    return code


def main(argv: list[str]) -> int:
    pool = 1
    args = list(argv)
    sequence = args[:1] == ["--sequence"]  # fused steps: each reads the one before
    if sequence:
        args = args[1:]
    elif args[:1] == ["--pool"]:
        pool = int(args[1])
        args = args[2:]
    units: list[Unit]
    if args[:1] == ["--tasks"]:
        if len(args) != 4 or args[2] != "--index" or not args[3].isdigit():
            print(_USAGE, file=sys.stderr)
            return 2
        units = _from_task_list(args[1], int(args[3]))
        if not units:
            return 1
    elif args:
        units = [(a, None, None) for a in args]
    else:
        print(_USAGE, file=sys.stderr)
        return 2
    if sequence:  # in order, stopping at the first failure (all() stops there)
        return 0 if all(_run(u) for u in units) else 1
    if pool == -1:
        pool = os.cpu_count() or 1
    if pool <= 1 or len(units) == 1:
        results = [_run(u) for u in units]
    else:
        results = _run_pool(units, pool)
    return 0 if all(results) else 1


def _from_task_list(path: str, number: int) -> list[Unit]:
    """The units of task ``number``; an unreadable list is said in the job's log (no unit
    directory exists yet to hold an exit record: the engine's grace period handles it)."""
    from hpcflow.runtime.tasklist import TaskListError, read_task

    try:
        header, entries = read_task(path, number)
        merged = str(header["log"]) if header.get("log") else None
        return [(str(d), t, merged) for d, t in entries]  # parsed by run_unit
    except (OSError, TaskListError, KeyError, TypeError, ValueError) as exc:
        print(f"hpcflow: cannot read task {number} of {path}: {exc}", file=sys.stderr)
        return []


def _run(unit: Unit) -> bool:
    unit_dir, task, merged = unit
    return run_unit(unit_dir, task, merged)  # type: ignore[arg-type]


def _run_pool(units: list[Unit], size: int) -> list[bool]:
    """Fork workers so each unit gets its own process (and its own alarm for timeouts)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(size, len(units)), maxtasksperchild=1) as pool:
        return pool.map(_run, units, chunksize=1)
