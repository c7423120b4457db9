"""Pure parsers of Slurm's machine-readable output; no I/O, so every case has a recorded test.

The output formats are fixed here (``SQUEUE_FORMAT``, ``SACCT_FIELDS``) and used by the argv
builders, so parser and query cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hpcflow.errors import SchedulerError
from hpcflow.scheduler.base import JobState
from hpcflow.scheduler.slurm.states import to_job_state

#: squeue ``--Format`` (``-O``) fields, each unpadded (``:0``) and ended by ``|``: array task
#: id (``123``, ``123_4``, ``123_[5-9%2]``), long state, reason, raw wait status, nodes, then the
#: free-text name and comment last, so a ``|`` inside them cannot shift the other fields.
#: ``-O`` rather than ``-o`` because only ``-O`` offers the exit status of finished jobs.
SQUEUE_FORMAT = "JobArrayID:0|,State:0|,Reason:0|,exit_code:0|,NodeList:0|,Name:0|,Comment:0"
#: The fields ``squeue --only-job-state`` can answer: the array task id and the state.
SQUEUE_STATE_FORMAT = "JobArrayID:0|,State:0"
#: sacct fields, free-text JobName last for the same reason.
SACCT_FIELDS = ("JobID", "State", "ExitCode", "Reason", "NodeList", "JobName")
#: sinfo fields for the site probe: partition (``debug*`` marks the default), avail, time limit.
SINFO_FORMAT = "%P|%a|%l"

_ARRAY_ID = re.compile(r"^(\d+)_(\d+)$")
_ARRAY_RANGE = re.compile(r"^(\d+)_\[([0-9,\-:]+)(?:%\d+)?\]$")
_PLAIN_ID = re.compile(r"^\d+$")


@dataclass(frozen=True)
class QueueRow:
    """One task as the queue (squeue) or accounting (sacct) reports it."""

    task_id: str
    state: JobState
    slurm_state: str
    reason: str = ""
    node: str | None = None
    name: str = ""
    comment: str = ""
    exit_code: int | None = None


def parse_sbatch(stdout: str) -> str:
    """Return the job id from ``sbatch --parsable`` output (``123`` or ``123;cluster``)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise SchedulerError("sbatch printed no job id")
    job_id = lines[-1].split(";", 1)[0]
    if not _PLAIN_ID.match(job_id):
        raise SchedulerError(f"cannot parse sbatch output {lines[-1]!r} as a job id")
    return job_id


def expand_job_ids(field: str) -> list[str]:
    """Expand ``123_[4-9%2]`` / ``123_[1,3-5:2]`` into task ids; ``123`` and ``123_4`` pass."""
    field = field.strip()
    if _PLAIN_ID.match(field) or _ARRAY_ID.match(field):
        return [field]
    match = _ARRAY_RANGE.match(field)
    if not match:
        raise SchedulerError(f"cannot parse Slurm job id {field!r}")
    base, spec = match.groups()
    ids: list[str] = []
    for part in spec.split(","):
        if "-" in part:
            bounds, _, step = part.partition(":")
            lo, _, hi = bounds.partition("-")
            ids.extend(f"{base}_{i}" for i in range(int(lo), int(hi) + 1, int(step or 1)))
        else:
            ids.append(f"{base}_{int(part)}")
    return ids


def base_job_id(task_id: str) -> str:
    """``123_4`` -> ``123``: the id squeue/sacct/scancel accept for a whole array."""
    return task_id.split("_", 1)[0]


def _clean(value: str, *nulls: str) -> str:
    value = value.strip()
    return "" if value in ("(null)", *nulls) else value


def parse_wait_status(field: str) -> int | None:
    """squeue's raw ``exit_code`` is a wait status: ``768`` -> 3; ``15`` (SIGTERM) -> 143."""
    field = field.strip()
    if not field.isdigit():
        return None
    status = int(field)
    signal = status & 0x7F
    return 128 + signal if signal else (status >> 8) & 0xFF


def squeue_index(stdout: str) -> dict[str, QueueRow]:
    """``squeue --noheader -O SQUEUE_FORMAT`` by task id. The tasks of a pending range
    (``123_[0-99999]``) share the line's one row, whose ``task_id`` is the range: a held
    100,000-task array costs one object, not 100,000."""
    index: dict[str, QueueRow] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        fields = line.split("|", 5)
        if len(fields) != 6 or "|" not in fields[5]:
            raise SchedulerError(f"unexpected squeue line {line!r}")
        job_id, state, reason, status, node, rest = fields
        # Our comments never contain "|"; a foreign job's name may, so split from the right.
        name, _, comment = rest.rpartition("|")
        job_state = to_job_state(state)
        row = QueueRow(
            task_id=job_id.strip(),
            state=job_state,
            slurm_state=state.strip(),
            reason=_clean(reason, "None"),
            node=_clean(node) or None,
            name=name,
            comment=_clean(comment),
            exit_code=None if job_state.is_active else parse_wait_status(status),
        )
        index.update(dict.fromkeys(expand_job_ids(job_id), row))
    return index


def squeue_states_index(stdout: str) -> dict[str, QueueRow]:
    """``squeue --only-job-state -O SQUEUE_STATE_FORMAT`` by task id (ids and states only;
    a range's tasks share one row, as in :func:`squeue_index`)."""
    index: dict[str, QueueRow] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        job_id, sep, state = line.partition("|")
        if not sep or not state.strip():
            raise SchedulerError(f"unexpected squeue line {line!r}")
        row = QueueRow(task_id=job_id.strip(), state=to_job_state(state), slurm_state=state.strip())
        index.update(dict.fromkeys(expand_job_ids(job_id), row))
    return index


def parse_squeue(stdout: str) -> list[QueueRow]:
    """One row per task (pending ranges expanded), each with its own task id."""
    return [row if row.task_id == tid else replace(row, task_id=tid)
            for tid, row in squeue_index(stdout).items()]


def parse_squeue_states(stdout: str) -> list[QueueRow]:
    """One row per task of ``squeue --only-job-state`` (ids and states only)."""
    return [row if row.task_id == tid else replace(row, task_id=tid)
            for tid, row in squeue_states_index(stdout).items()]


_VERSION = re.compile(r"(\d+)\.(\d+)")


def parse_slurm_version(stdout: str) -> tuple[int, int] | None:
    """``slurm 22.05.8`` (or ``slurm-wlm 23.11.4``) -> (22, 5); None if unreadable."""
    match = _VERSION.search(stdout)
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_exit_code(field: str) -> int | None:
    """``1:0`` -> 1; ``0:9`` (killed by signal 9) -> 137, the shell's convention."""
    code, _, signal = field.strip().partition(":")
    if not code.isdigit():
        return None
    if int(code) == 0 and signal.isdigit() and int(signal) > 0:
        return 128 + int(signal)
    return int(code)


def parse_sacct(stdout: str) -> list[QueueRow]:
    """Parse ``sacct -X --parsable2 --noheader --format=SACCT_FIELDS``; step rows are skipped."""
    rows: list[QueueRow] = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        fields = line.split("|", len(SACCT_FIELDS) - 1)
        if len(fields) != len(SACCT_FIELDS):
            raise SchedulerError(f"unexpected sacct line {line!r}")
        job_id, state, exit_code, reason, node, name = fields
        if "." in job_id:  # 123.batch / 123.extern when -X was not honoured
            continue
        for task_id in expand_job_ids(job_id):
            rows.append(
                QueueRow(
                    task_id=task_id,
                    state=to_job_state(state),
                    slurm_state=state.strip(),
                    reason=_clean(reason, "None"),
                    node=_clean(node, "None assigned") or None,
                    name=name,
                    exit_code=parse_exit_code(exit_code),
                )
            )
    return rows


def parse_scontrol_config(stdout: str) -> dict[str, str]:
    """Parse ``scontrol show config`` (``Key = value`` lines) into a dict."""
    config: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            config[key.strip()] = value.strip()
    return config


def parse_max_array_size(config: dict[str, str]) -> int:
    """MaxArraySize from ``scontrol show config``; the largest index is one less than this."""
    raw = config.get("MaxArraySize", "")
    if not raw.isdigit():
        raise SchedulerError(f"scontrol show config has no usable MaxArraySize ({raw!r})")
    return int(raw)


def parse_sinfo_partitions(stdout: str) -> dict[str, dict[str, str]]:
    """Parse ``sinfo --noheader -o SINFO_FORMAT`` into ``{partition: {avail, timelimit, default}}``."""
    partitions: dict[str, dict[str, str]] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 3:
            continue
        name, avail, limit = fields
        default = name.endswith("*")
        partitions.setdefault(
            name.rstrip("*"),
            {"avail": avail, "timelimit": limit, "default": "yes" if default else "no"},
        )
    return partitions


# --- error classification (stderr text of a failed command) -------------------------------

_CONTROLLER_DOWN = (
    "unable to contact slurm controller",
    "socket timed out",
    "connection refused",
    "connection timed out",
    "zero bytes were transmitted",
    "slurm backup controller in standby mode",
)
_SUBMIT_LIMITS = (
    "qosmaxsubmitjobperuserlimit",
    "qosmaxsubmitjobperaccountlimit",
    "assocmaxsubmitjoblimit",
    "assocgrpsubmitjobslimit",
    "job violates accounting/qos policy",
    "maxsubmitjobs",
    "resource temporarily unavailable",
    "slurm temporarily unable to accept job",
)
_ACCOUNTING_OFF = (
    "accounting storage is disabled",
    "not running a supported accounting_storage plugin",
)


def is_controller_down(stderr: str) -> bool:
    """The controller did not answer: try later, never conclude anything about jobs."""
    text = stderr.lower()
    return any(pattern in text for pattern in _CONTROLLER_DOWN)


def is_submit_limit(stderr: str) -> bool:
    """sbatch refused the job for a site limit that will pass once jobs finish."""
    text = stderr.lower()
    return any(pattern in text for pattern in _SUBMIT_LIMITS)


def is_accounting_disabled(stderr: str) -> bool:
    """sacct cannot answer because the cluster keeps no accounting."""
    text = stderr.lower()
    return any(pattern in text for pattern in _ACCOUNTING_OFF)


def is_invalid_job_id(stderr: str) -> bool:
    """squeue's answer when *none* of the given ids is still known to the controller."""
    return "invalid job id specified" in stderr.lower()
