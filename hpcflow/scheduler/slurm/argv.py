"""Argv builders for the Slurm commands hpcflow runs; lists only, never shell strings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hpcflow.scheduler.slurm.parse import (
    SACCT_FIELDS,
    SINFO_FORMAT,
    SQUEUE_FORMAT,
    SQUEUE_STATE_FORMAT,
    base_job_id,
)


def array_spec(count: int, parallelism: int | None) -> str:
    """``--array`` value for ``count`` tasks indexed from 0, throttled to ``parallelism``."""
    if count < 1:
        raise ValueError("an array needs at least one task")
    spec = f"0-{count - 1}"
    if parallelism is not None and parallelism > 0:
        spec += f"%{parallelism}"
    return spec


def sbatch_argv(
    script: str,
    *,
    workdir: str,
    array: str | None = None,
    offset: int = 0,
    extra_options: Sequence[str] = (),
    depends_on: Sequence[str] = (),
) -> list[str]:
    """``sbatch --parsable`` of ``script``; ``offset`` tells the script where its chunk starts.

    ``--chdir`` goes in argv rather than an ``#SBATCH`` line because a path may contain
    anything, while ``#SBATCH`` lines carry only validated values. ``depends_on`` queues the
    job behind those job or task ids (``afterok``); ``--kill-on-invalid-dep=yes`` makes
    Slurm remove it when one of them fails, rather than leave it pending forever.
    """
    argv = ["sbatch", "--parsable", f"--chdir={workdir}"]
    if array is not None:
        argv.append(f"--array={array}")
    if depends_on:
        argv.append(dependency_option(depends_on))
        argv.append("--kill-on-invalid-dep=yes")
    argv.extend(extra_options)
    argv.extend([script, str(offset)])
    return argv


def dependency_option(job_ids: Sequence[str]) -> str:
    """``--dependency=afterok:1:2_3``; ids are checked, since they come from a store."""
    for job in job_ids:
        if not _JOB_ID.fullmatch(job):
            raise ValueError(f"not a Slurm job or task id: {job!r}")
    return "--dependency=afterok:" + ":".join(dict.fromkeys(job_ids))


_JOB_ID = re.compile(r"[0-9]+(_[0-9]+)?")


def unique_job_ids(task_ids: Sequence[str]) -> list[str]:
    """Base job ids of ``task_ids`` in first-seen order (``123_4``, ``123_5`` -> ``123``)."""
    return list(dict.fromkeys(base_job_id(t) for t in task_ids))


def squeue_argv(job_ids: Sequence[str] | None = None, *, states_only: bool = False) -> list[str]:
    """This user's jobs in every state still held by the controller (``-t all``), so
    tasks that ended less than MinJobAge ago are answered here, with their exit status.

    Asking by *base* id returns whole arrays (pending ranges collapsed), which is one short
    answer however many tasks are tracked. ``states_only`` asks for ids and states alone
    with ``--only-job-state`` (Slurm >= 23.02: a lighter request for the controller).
    """
    fmt = SQUEUE_STATE_FORMAT if states_only else SQUEUE_FORMAT
    argv = ["squeue", "--me", "--noheader", "-t", "all"]
    if states_only:
        argv.append("--only-job-state")
    argv.extend(["-O", fmt])
    if job_ids:
        argv.extend(["-j", ",".join(unique_job_ids(job_ids))])
    return argv


def squeue_version_argv() -> list[str]:
    """Asks the client, not the controller: ``slurm 22.05.8``."""
    return ["squeue", "--version"]


#: The first Slurm whose squeue has ``--only-job-state``.
ONLY_JOB_STATE_SINCE = (23, 2)


def supports_only_job_state(version: tuple[int, int] | None) -> bool:
    return version is not None and version >= ONLY_JOB_STATE_SINCE


def sacct_argv(job_ids: Sequence[str] | None = None, *, since: str | None = None) -> list[str]:
    """Allocation rows (``-X``) for ``job_ids``, or for all of this user's jobs since ``since``.

    ``since`` must be absolute (``2026-11-25T10:00:00``): 22.05 rejects ``now-30min``.
    """
    argv = ["sacct", "-X", "--parsable2", "--noheader", f"--format={','.join(SACCT_FIELDS)}"]
    if job_ids:
        argv.extend(["-j", ",".join(unique_job_ids(job_ids))])
    if since:
        argv.extend(["-S", since])
    return argv


def collapse_task_ids(task_ids: Sequence[str], array_sizes: Mapping[str, int] | None = None) -> list[str]:
    """Task ids as few scancel arguments: ``123_4..123_9`` -> ``123_[4-9]``, an array known
    to have exactly the given tasks (``array_sizes``) -> ``123``; plain job ids are kept."""
    sizes = array_sizes or {}
    plain: list[str] = []
    arrays: dict[str, set[int]] = {}
    for tid in task_ids:
        base, sep, index = tid.partition("_")
        if sep and index.isdigit():
            arrays.setdefault(base, set()).add(int(index))
        else:
            plain.append(tid)
    out = list(dict.fromkeys(plain))
    for base, indexes in arrays.items():
        if base in out:
            continue  # the whole job is cancelled already
        if sizes.get(base) == len(indexes) and indexes == set(range(len(indexes))):
            out.append(base)
            continue
        ranges = _ranges(sorted(indexes))
        out.append(f"{base}_{ranges[0]}" if ranges == [str(min(indexes))] else f"{base}_[{','.join(ranges)}]")
    return out


#: Slurm refuses a single range of more ids than this ("Too many hosts in range").
MAX_RANGE = 50_000


def _ranges(indexes: list[int]) -> list[str]:
    parts, start, prev = [], indexes[0], indexes[0]
    for i in indexes[1:] + [None]:
        if i is not None and i == prev + 1 and i - start < MAX_RANGE:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return parts


def scancel_argv(task_ids: Sequence[str]) -> list[str]:
    """One scancel for every task; array task ids (``123_4``) cancel just that task."""
    return ["scancel", *task_ids]


def sinfo_argv() -> list[str]:
    return ["sinfo", "--noheader", "-o", SINFO_FORMAT]


def scontrol_config_argv() -> list[str]:
    return ["scontrol", "show", "config"]


def scontrol_ping_argv() -> list[str]:
    return ["scontrol", "ping"]
