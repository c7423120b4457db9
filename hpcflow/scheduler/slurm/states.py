"""The one table that maps Slurm job states to hpcflow's :class:`JobState`."""

from __future__ import annotations

from hpcflow.scheduler.base import JobState

#: Slurm's base state names (``squeue %T``, ``sacct State``) to hpcflow's states. States that
#: mean "still in the queue" map to PENDING/RUNNING so a job is never declared finished early.
SLURM_STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "SPECIAL_EXIT": JobState.PENDING,
    "CONFIGURING": JobState.RUNNING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "DEADLINE": JobState.TIMEOUT,
    "TIMEOUT": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL,
    "PREEMPTED": JobState.PREEMPTED,
    "BOOT_FAIL": JobState.BOOT_FAIL,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
}

#: squeue's short codes (``%t``), for output that uses them.
_SHORT_CODES: dict[str, str] = {
    "PD": "PENDING",
    "R": "RUNNING",
    "CF": "CONFIGURING",
    "CG": "COMPLETING",
    "CD": "COMPLETED",
    "F": "FAILED",
    "TO": "TIMEOUT",
    "OOM": "OUT_OF_MEMORY",
    "NF": "NODE_FAIL",
    "PR": "PREEMPTED",
    "BF": "BOOT_FAIL",
    "CA": "CANCELLED",
    "S": "SUSPENDED",
    "ST": "STOPPED",
    "RQ": "REQUEUED",
    "RH": "REQUEUE_HOLD",
    "RF": "REQUEUE_FED",
    "SE": "SPECIAL_EXIT",
    "DL": "DEADLINE",
    "RV": "REVOKED",
    "SO": "STAGE_OUT",
    "RS": "RESIZING",
    "SI": "SIGNALING",
}


def to_job_state(slurm_state: str) -> JobState:
    """Map a Slurm state such as ``CANCELLED by 0`` or ``OUT_OF_ME+`` to a :class:`JobState`.

    Unknown words become UNKNOWN rather than a guess, so the engine waits for the exit record.
    """
    word = slurm_state.strip().split(" ", 1)[0].rstrip("+").upper()
    word = _SHORT_CODES.get(word, word)
    if word in SLURM_STATES:
        return SLURM_STATES[word]
    # sacct truncates long names without --parsable2 (``OUT_OF_ME+``); accept unique prefixes.
    matches = {state for name, state in SLURM_STATES.items() if word and name.startswith(word)}
    return matches.pop() if len(matches) == 1 else JobState.UNKNOWN
