"""What the engine's parts share: the attempts in flight, the tick's report, and the
engine's state (declared once here so the observing and launching halves type-check)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcflow.engine.cache_hook import CacheHook
from hpcflow.engine.launch import attempt_dir
from hpcflow.engine.model import Node
from hpcflow.engine.poll_policy import PollClock
from hpcflow.engine.run import WorkflowRun
from hpcflow.engine.settings import EngineSettings
from hpcflow.engine.work_area import WorkArea
from hpcflow.scheduler.base import Scheduler
from hpcflow.states import ACTIVE_ATTEMPTS, AttemptStatus
from hpcflow.store.db import Store

ACTIVE_ATTEMPT = ACTIVE_ATTEMPTS
SUBMITTING, SUBMITTED = AttemptStatus.SUBMITTING, AttemptStatus.SUBMITTED

#: An attempt's key in the engine's maps: (workflow id, node path, attempt number).
AttemptKey = tuple[str, str, int]

#: An attempt change to write: the fields and their values, or the names of fields whose
#: current values on the attempt are written (``SUBMITTED_FIELDS``: a submitted array of
#: 100,000 tasks would otherwise hold a dict per task until the write).
AttemptChange = dict[str, Any] | tuple[str, ...]
SUBMITTED_FIELDS = ("job_id", "status", "tag", "task_index", "submitted_at")


@dataclass(slots=True)
class Attempt:
    """An attempt the engine is watching. Its directory is kept as text (``dir`` makes the
    Path when asked): a Path costs ~400 bytes, and a big fan-out watches 100,000 attempts.
    An attempt the engine just planned holds not even the text (~100 bytes) but the run's
    work root, from which its directory is made when asked (``launch.attempt_dir``)."""

    workflow_id: str
    node_path: str
    number: int
    #: The attempt directory as recorded, or None: made from ``work_root``.
    dir_held: str | None
    tag: str
    status: AttemptStatus
    job_id: str | None = None
    task_index: int = 0
    #: When the scheduler accepted the job (the start of its expected runtime).
    submitted_at: float | None = None
    work_root: str | None = None

    @property
    def dir_text(self) -> str:
        if self.dir_held is not None:
            return self.dir_held
        assert self.work_root is not None, "an attempt needs its directory or its work root"
        return attempt_dir(self.work_root, self.node_path, self.number)

    @property
    def dir(self) -> Path:
        return Path(self.dir_text)


@dataclass
class TickReport:
    active_workflows: int = 0
    launched: int = 0
    finished_units: int = 0
    inflight: int = 0
    polled: int = 0
    scheduler_unavailable: bool = False
    #: When the next scheduler query is due (``None``: every tick may ask); loops that
    #: tick may sleep until then.
    next_poll_at: float | None = None
    finished_workflows: list[str] = field(default_factory=list)


class EngineState:
    """The engine's memory between ticks; :class:`~hpcflow.engine.engine.Engine` fills it."""

    store: Store
    scheduler: Scheduler
    settings: EngineSettings
    work_area: WorkArea
    cache: CacheHook
    runs: dict[str, WorkflowRun]
    inflight: dict[AttemptKey, Attempt]
    #: When an attempt's job was first seen gone without an exit record (also stored with
    #: the attempt, ``attempts.gone_since``: a fresh engine continues the grace period).
    _gone_since: dict[AttemptKey, float]
    #: Attempts in flight whose jobs were queued behind their producers' (``afterok``):
    #: their exit records are looked for even while a big fan-out is in flight
    #: (:mod:`hpcflow.engine.observe`), since one says its producers ended too.
    _chained_inflight: dict[AttemptKey, Attempt]
    _attempt_updates: list[tuple[Attempt, AttemptChange]]
    _pending_groups: list[Any]
    #: Tags a site limit refused outright: no job can exist under them, no lookup needed.
    _never_sent: set[str]
    #: Quiet workflows whose attempts are watched without their nodes loaded: the revision
    #: they were quiet at (:mod:`hpcflow.engine.quiet`).
    _dormant: dict[str, int]
    #: The job ids of a dormant workflow's attempts (no Attempt objects: a fresh tick
    #: watching 100,000 of them needs only the ids to poll).
    _dormant_jobs: dict[str, list[str]]

    def _watch(self, att: Attempt, node: Node | None) -> None:
        """Watch ``att`` in flight; a chained unit's attempt (queued behind its producers)
        is also kept in :attr:`_chained_inflight`."""
        key = (att.workflow_id, att.node_path, att.number)
        self.inflight[key] = att
        if node is not None and node.data.get("chained_to"):
            self._chained_inflight[key] = att

    def inflight_count(self) -> int:
        """Attempts in flight, those of dormant workflows included."""
        return len(self.inflight) + sum(len(ids) for ids in self._dormant_jobs.values())

    def _load_run(self, wf_id: str) -> None:
        """Load a workflow's nodes and attempts (the engine's; declared for the halves)."""
        raise NotImplementedError
    #: When the next scheduler query is due (``None``: the scheduler is asked every tick).
    _poll_clock: PollClock | None
    #: Runtimes (from submission) of successful attempts, and their median, per
    #: (workflow id, template name): when the jobs of that step are due to end.
    _runtimes: dict[tuple[str, str | None], list[float]]
    _typical: dict[tuple[str, str | None], float | None]
