"""Turn a site configuration into engine settings and a scheduler (the engine's view of a site)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hpcflow.engine.settings import ContainerSettings, EngineSettings
from hpcflow.scheduler.base import Scheduler


def load_engine_site(site: str | None, home: Path) -> tuple[EngineSettings, Scheduler, str]:
    """Resolve ``site`` (path, or $HPCFLOW_SITE, or the user's default, or local mode)."""
    if not (site or os.environ.get("HPCFLOW_SITE") or _USER_SITE.expanduser().is_file()):
        # Plain local mode: no site file to validate, so the models (pydantic) stay unloaded.
        return EngineSettings(work_root=home / "work"), _local_scheduler(home), "local"
    from hpcflow.site import resolve_site

    config = resolve_site(site)
    if config.scheduler == "local":
        return _local_settings(config, home), _local_scheduler(home), config.name
    return settings_from_site(config, home), _slurm_scheduler(config), config.name


_USER_SITE = Path("~/.config/hpcflow/site.toml")  # as hpcflow.site.loader.USER_SITE


def _local_settings(config: Any, home: Path) -> EngineSettings:
    return settings_from_site(config, home, grace=min(2.0, config.exit_record_grace_s))


def _local_scheduler(home: Path) -> Scheduler:
    from hpcflow.scheduler.local import LocalScheduler

    env_workers = os.environ.get("HPCFLOW_LOCAL_WORKERS")  # default: one job per core
    return LocalScheduler(int(env_workers) if env_workers else None, registry=home / "local-jobs")


def _slurm_scheduler(config: Any) -> Scheduler:
    from hpcflow.scheduler.slurm.backend import SlurmScheduler

    return SlurmScheduler()


def settings_from_site(config: Any, home: Path, grace: float | None = None) -> EngineSettings:
    defaults = config.defaults
    default_resources: dict[str, Any] = {}
    for field in ("cpus", "memory_mb", "gpus", "time_limit_s", "partition", "account", "qos", "constraint"):
        value = getattr(defaults, field, None)
        if value is not None:
            default_resources[field] = value
    extra = getattr(defaults, "extra_sbatch", None)
    if extra:
        default_resources["extra_options"] = list(extra)
    c = config.containers
    containers = ContainerSettings(
        runtime=c.runtime, executable=c.executable, binds=tuple(c.binds),
        options=tuple(c.options), gpu=c.gpu,
    )
    work_root = Path(config.work_root) if config.work_root else home / "work"
    return EngineSettings(
        work_root=work_root,
        python=config.python or sys.executable,
        exit_record_grace_s=grace if grace is not None else config.exit_record_grace_s,
        default_resources=default_resources,
        setup_lines=tuple(config.setup),
        containers=containers,
        max_queued_jobs=config.max_queued_jobs,
        storage=config.storage.model_dump() if config.storage is not None else None,
        partitions={name: part.model_dump(exclude={"default"}) for name, part in config.partitions.items()},
        default_partition=config.default_partition(),
    )
