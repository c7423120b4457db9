"""The protocol every scheduler backend (local, slurm, kubernetes) implements.

A backend only moves jobs: it submits argv lists, reports what the queue knows, and cancels.
Whether a step *succeeded* is decided by the exit record the runtime writes in the attempt
directory, never by queue state alone; queue state answers "is it still there, and if it
vanished, why".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, overload

_Item = TypeVar("_Item")


class JobState(str, enum.Enum):
    """Scheduler-level state of one job or array task (Slurm's vocabulary, which is the richest)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    CANCELLED = "CANCELLED"
    #: Gone from the queue and nothing (no accounting) says how it ended.
    UNKNOWN = "UNKNOWN"

    @property
    def is_active(self) -> bool:
        return self in (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True)
class Resources:
    """What one job (or each array task) asks the scheduler for. ``None`` means site default."""

    cpus: int | None = None
    memory_mb: int | None = None
    gpus: int | None = None
    time_limit_s: int | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    exclude_nodes: tuple[str, ...] = ()
    #: Raw scheduler options such as ``"--reservation=abc"``, passed as single argv items.
    extra_options: tuple[str, ...] = ()


class MadeWhenRead(Sequence[_Item]):
    """A read-only sequence whose items are made when read (``_make(i)``, ``0 <= i < len``):
    a 100,000-task array would otherwise hold 100,000 tuples until it is submitted."""

    __slots__ = ()

    def _make(self, index: int) -> _Item:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> _Item: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[_Item]: ...

    def __getitem__(self, index: int | slice) -> _Item | Sequence[_Item]:
        size = len(self)
        if isinstance(index, slice):
            return tuple(self._make(i) for i in range(*index.indices(size)))
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(index)
        return self._make(index)


class IndexedTasks(MadeWhenRead[tuple[str, ...]]):
    """The argv of ``size`` array tasks that differ only in their last item, the task's
    number (``... --index N``)."""

    __slots__ = ("prefix", "size")

    def __init__(self, prefix: tuple[str, ...], size: int) -> None:
        self.prefix = prefix
        self.size = size

    def __len__(self) -> int:
        return self.size

    def _make(self, index: int) -> tuple[str, ...]:
        return (*self.prefix, str(index))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IndexedTasks):
            return (self.prefix, self.size) == (other.prefix, other.size)
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IndexedTasks({self.prefix!r} + [0..{self.size - 1}])"


@dataclass(frozen=True)
class JobRequest:
    """One submission: a single job (one task) or an array (several tasks, same resources)."""

    #: Unique tag recorded in the store *before* submission; used to adopt jobs after a crash.
    tag: str
    #: Human-readable job name (shown in the queue).
    name: str
    #: Existing directory for the job script, the task list and the scheduler's logs.
    workdir: Path
    #: The argv each task runs; ``len(tasks) > 1`` makes an array (index i runs ``tasks[i]``).
    tasks: Sequence[tuple[str, ...]]
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = Resources()
    #: At most this many tasks of the array run at once (Slurm ``--array=...%P``).
    parallelism: int | None = None
    #: Trusted shell lines from the site configuration (``module load ...``) run before a task.
    setup_lines: tuple[str, ...] = ()
    #: What ``tasks`` run, for backends that do not run argv on a shared filesystem
    #: (Kubernetes): the step's image, the unit directories of each task, the pool size.
    image: str | None = None
    units: Sequence[tuple[str, ...]] = ()
    pool: int = 1
    #: The step's name (``scan``), for burst rules and labels.
    step: str = ""
    #: The step executor's ``remote`` table (a Slurm cluster over SSH, see
    #: :mod:`hpcflow.engine.routes`); ``None``: the engine's own scheduler runs the job.
    route: Mapping[str, Any] | None = None
    #: Task ids (or whole array ids) that must all succeed before this job may start
    #: (Slurm ``--dependency=afterok``); only for a scheduler with ``supports_dependencies``.
    depends_on: tuple[str, ...] = ()
    #: The job's task list (``hpcflow.runtime.tasklist``): the task records of ``units``,
    #: for backends that ship them elsewhere (Kubernetes, an SSH work area).
    task_list: Path | None = None


@dataclass(frozen=True)
class SubmittedJob:
    """The scheduler ids of a submitted request, one per task, in the order of ``tasks``."""

    tag: str
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class JobStatus:
    """What the scheduler knows about one task."""

    state: JobState
    exit_code: int | None = None
    reason: str = ""
    node: str | None = None


def supports_dependencies(scheduler: object) -> bool:
    """Whether ``scheduler`` queues a job behind others (``JobRequest.depends_on``) and
    removes it when they fail. A backend says so with a ``supports_dependencies = True``
    attribute; the engine submits a dependant early only then (the others never see one)."""
    return getattr(scheduler, "supports_dependencies", False) is True


def runs_in_unit_dirs(scheduler: object) -> bool:
    """Whether ``scheduler``'s tasks run the runtime on the attempt directories themselves
    (local, Slurm), so one task may run fused units that read each other's outputs there
    (``runs_in_unit_dirs = True``); Kubernetes pods run copies in scratch and do not."""
    return getattr(scheduler, "runs_in_unit_dirs", False) is True


class Scheduler(Protocol):
    """A batch system hpcflow can submit to."""

    name: str

    def submit(self, job: JobRequest) -> SubmittedJob:
        """Submit ``job``; raise ``SubmissionDeferred`` when a site limit refuses it."""
        ...

    def poll(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        """Report many tasks with as few scheduler queries as possible (one per call).

        Raises ``SchedulerUnavailable`` when the controller does not answer.
        """
        ...

    def cancel(self, task_ids: Sequence[str]) -> None:
        """Cancel tasks; unknown or finished ids are ignored."""
        ...

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        """Find jobs already submitted under these tags (after a crash between submit and record)."""
        ...
