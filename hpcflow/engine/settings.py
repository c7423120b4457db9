"""What the engine needs to know about where it runs (derived from the site configuration)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcflow.containers.base import GPU


@dataclass(frozen=True)
class ContainerSettings:
    runtime: str = "none"
    executable: str | None = None
    binds: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    gpu: GPU | None = None  # the site file allows only these


@dataclass(frozen=True)
class EngineSettings:
    """Site-derived settings; the site configuration module builds these."""

    work_root: Path
    #: The interpreter jobs run with; ``None``: the one that submitted each workflow.
    python: str | None = None
    #: How long a job may be gone from the queue before its missing exit record counts as lost.
    exit_record_grace_s: float = 2.0
    default_resources: dict[str, Any] = field(default_factory=dict)
    setup_lines: tuple[str, ...] = ()
    containers: ContainerSettings = ContainerSettings()
    max_queued_jobs: int | None = None
    #: Extra seconds the scheduler allows beyond a step's own timeout (the runtime enforces it).
    time_limit_margin_s: int = 60
    storage: dict[str, Any] | None = None
    #: Mode of the directories hpcflow creates in the work root (0700; a site may allow its
    #: group with 0750).
    work_dir_mode: int = 0o700
    #: The user jobs run as ($USER in job scripts and containers).
    user: str = ""
    #: Limits of the site's partitions (``max_time_s``, ``max_cpus``, ``max_memory_mb``,
    #: ``gpus``), checked at submit; and the partition a job without one lands in.
    partitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_partition: str | None = None
    #: Cache the results of every step unless a step or template says ``cache=False``.
    cache_default: bool = False
    #: The longest gap between two scheduler queries while nothing changes
    #: (hpcflow.engine.poll_policy; schedulers that answer locally are asked every tick).
    poll_max_s: float = 30.0
