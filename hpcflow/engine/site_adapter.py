"""Turn a site configuration into engine settings and a scheduler (the engine's view of a site)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, NamedTuple

from hpcflow.engine.settings import ContainerSettings, EngineSettings
from hpcflow.engine.work_area import WorkArea
from hpcflow.scheduler.base import Scheduler


class EngineSite(NamedTuple):
    settings: EngineSettings
    scheduler: Scheduler
    name: str
    #: Where jobs see their attempt directories (``None``: this machine's filesystem).
    work_area: WorkArea | None = None


def load_engine_site(site: str | None, home: Path) -> EngineSite:
    """Resolve ``site`` (path, or $HPCFLOW_SITE, or the user's default, or local mode)."""
    if not (site or os.environ.get("HPCFLOW_SITE") or _USER_SITE.expanduser().is_file()):
        # Plain local mode: no site file to validate, so the models (pydantic) stay unloaded.
        return EngineSite(EngineSettings(work_root=home / "work"), _local_scheduler(home), "local")
    from hpcflow.site import resolve_site

    config = resolve_site(site)
    if config.scheduler == "local":
        return EngineSite(_local_settings(config, home), _local_scheduler(home), config.name)
    if config.ssh is not None and config.ssh.engine == "local":
        return remote_steps_site(config, home)
    return EngineSite(settings_from_site(config, home), _slurm_scheduler(config), config.name)


def remote_site_config(site: str | None) -> Any:
    """The site configuration if it is a *remote site* (``[ssh]`` with the engine on the
    login node), else ``None``."""
    if not (site or os.environ.get("HPCFLOW_SITE") or _USER_SITE.expanduser().is_file()):
        return None
    from hpcflow.site import resolve_site

    config = resolve_site(site)
    return config if config.ssh is not None and config.ssh.engine == "remote" else None


def remote_steps_site(config: Any, home: Path) -> EngineSite:
    """``[ssh] engine = "local"``: this machine's engine, the cluster's Slurm over SSH.

    The local work root is a mirror of the remote one (``<home>/mirror/<site>``); jobs run
    ``python`` of the site (default ``python3``) with the hpcflow shipped to the cluster.
    """
    from hpcflow.engine.work_area import RemoteWorkArea
    from hpcflow.private import make_dirs
    from hpcflow.scheduler.slurm.backend import SlurmScheduler
    from hpcflow.transport import files
    from hpcflow.transport.ssh import make_transport

    ssh = config.ssh
    transport = make_transport(ssh, config.name, home)
    mirror = make_dirs(home / "mirror" / config.name)
    settings = dataclasses.replace(settings_from_site(config, home), work_root=mirror,
                                   python=config.python or "python3")
    area = RemoteWorkArea(transport, mirror, config.work_root, ssh.command_timeout_s)

    def write_files(out: Any) -> None:
        files.write_files(transport, {str(p): text for p, text in out.items()}, config.work_root,
                          ssh.command_timeout_s)

    scheduler = SlurmScheduler(transport, write_files=write_files, timeout_s=ssh.command_timeout_s)
    return EngineSite(settings, scheduler, config.name, area)


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
        python=config.python,
        exit_record_grace_s=grace if grace is not None else config.exit_record_grace_s,
        default_resources=default_resources,
        setup_lines=tuple(config.setup),
        containers=containers,
        max_queued_jobs=config.max_queued_jobs,
        storage=config.storage.model_dump() if config.storage is not None else None,
        work_dir_mode=config.work_root_mode,
    )
