"""Turn a site configuration into engine settings and a scheduler (the engine's view of a site)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

from hpcflow.engine.settings import ContainerSettings, EngineSettings
from hpcflow.engine.work_area import WorkArea
from hpcflow.scheduler.base import Scheduler
from hpcflow.settings import USER_SITE, Settings


class EngineSite(NamedTuple):
    settings: EngineSettings
    scheduler: Scheduler
    name: str
    #: Where jobs see their attempt directories (``None``: this machine's filesystem).
    work_area: WorkArea | None = None


def load_engine_site(config: Settings) -> EngineSite:
    """The engine's view of the site ``config`` names (a site file, or local mode), with
    the steps whose executor names a remote route sent there (:mod:`hpcflow.engine.routing`)."""
    from hpcflow.engine.routing import RouteTable, RoutingScheduler, RoutingWorkArea

    site = None
    if config.site_file:
        from hpcflow.site import load_site

        site = load_site(config.site_file)
    found = _home_site(config, site)
    routes = RouteTable(config.home, found.settings.work_root, site.ssh_hosts if site is not None else {})
    return found._replace(scheduler=RoutingScheduler(found.scheduler, routes),
                          work_area=RoutingWorkArea(found.work_area, routes))


def _home_site(config: Settings, site: Any) -> EngineSite:
    """The site's own scheduler and work area (``site`` is ``None`` in plain local mode)."""
    home = config.home
    if site is None or not config.site_file:
        # Plain local mode: no site file to validate, so the models (pydantic) stay unloaded.
        return EngineSite(EngineSettings(work_root=home / "work", user=config.user),
                          _local_scheduler(config), "local")
    if site.scheduler == "local":
        return EngineSite(_local_settings(site, config), _local_scheduler(config), site.name)
    if site.ssh is not None and site.ssh.engine == "local":
        return remote_steps_site(site, config)
    settings = settings_from_site(site, home, user=config.user)
    if site.scheduler == "kubernetes":
        return EngineSite(settings, kubernetes_scheduler(site, settings, config), site.name)
    scheduler = _slurm_scheduler(site)
    if site.burst is not None:
        scheduler = _burst_scheduler(site, config.site_file, scheduler, settings, config)
    return EngineSite(settings, scheduler, site.name)


def remote_site_config(config: Settings) -> Any:
    """The site configuration if it is a *remote site* (``[ssh]`` with the engine on the
    login node), else ``None``."""
    if not config.site_file:
        return None
    from hpcflow.site import load_site

    site = load_site(config.site_file)
    return site if site.ssh is not None and site.ssh.engine == "remote" else None


def remote_steps_site(config: Any, process: Settings) -> EngineSite:
    """``[ssh] engine = "local"``: this machine's engine, the cluster's Slurm over SSH.

    The local work root is a mirror of the remote one (``<home>/mirror/<site>``); jobs run
    ``python`` of the site (default ``python3``) with the hpcflow shipped to the cluster.
    """
    from hpcflow.engine.work_area import RemoteWorkArea
    from hpcflow.private import make_dirs
    from hpcflow.scheduler.slurm.backend import SlurmScheduler
    from hpcflow.transport import files
    from hpcflow.transport.ssh import make_transport

    home = process.home
    ssh = config.ssh
    transport = make_transport(ssh, config.name, home)
    mirror = make_dirs(home / "mirror" / config.name)
    settings = dataclasses.replace(settings_from_site(config, home, user=process.user), work_root=mirror,
                                   python=config.python or "python3")
    area = RemoteWorkArea(transport, mirror, config.work_root, ssh.command_timeout_s)

    def write_files(out: Any) -> None:
        files.write_files(transport, {str(p): text for p, text in out.items()}, config.work_root,
                          ssh.command_timeout_s)

    scheduler = SlurmScheduler(transport, write_files=write_files, timeout_s=ssh.command_timeout_s)
    return EngineSite(settings, scheduler, config.name, area)


def kubernetes_scheduler(site: Any, settings: EngineSettings, config: Settings) -> Scheduler:
    """The Kubernetes backend of a site (the kubernetes client is imported only when used)."""
    from hpcflow.scheduler.kubernetes.backend import KubernetesScheduler, owner_label
    from hpcflow.scheduler.kubernetes.settings import KubeSettings

    kube = KubeSettings.from_site(site, str(settings.work_root))
    return KubernetesScheduler(kube, owner_label(str(config.home), config.user))


def burst_site_path(home_site_file: str, name: str) -> Path:
    """``[burst] site``: a path (relative to the home site file), or a bare name meaning
    ``<name>.toml`` beside it."""
    base = Path(home_site_file).expanduser().resolve().parent
    if "/" not in name and not name.endswith(".toml"):
        return base / f"{name}.toml"
    return (base / Path(name).expanduser()).resolve()


def _burst_scheduler(site: Any, site_file: str, home: Scheduler, settings: EngineSettings,
                     config: Settings) -> Scheduler:
    from hpcflow.engine.burst import BurstPolicy, BurstScheduler
    from hpcflow.errors import ConfigError
    from hpcflow.site import load_site

    b = site.burst
    path = burst_site_path(site_file, b.site)
    cloud = load_site(path)
    if cloud.scheduler != "kubernetes":
        raise ConfigError(f"{site_file}: burst.site: {path} is a {cloud.scheduler!r} site; "
                          "bursting needs a Kubernetes site")
    mine = site.storage.model_dump(exclude={"credentials_file"})
    theirs = cloud.storage.model_dump(exclude={"credentials_file"})
    if mine != theirs:
        raise ConfigError(f"{site_file}: burst.site: {path} must use the same [storage] as this "
                          "site (a step that bursts reads and writes the same artifacts)")
    policy = BurstPolicy(cloud.name, b.when_pending_over, b.when_wait_over_s, b.only_images,
                         tuple(b.steps), tuple(b.never_steps))
    return BurstScheduler(home, kubernetes_scheduler(cloud, settings, config), policy)


_USER_SITE = USER_SITE  # the user's default site file (hpcflow.settings resolves it)


def _local_settings(site: Any, config: Settings) -> EngineSettings:
    return settings_from_site(site, config.home, grace=min(2.0, site.exit_record_grace_s), user=config.user)


def _local_scheduler(config: Settings) -> Scheduler:
    from hpcflow.scheduler.local import LocalScheduler

    return LocalScheduler(config.local_workers, registry=config.home / "local-jobs",
                          use_zygote=config.fork_server)


def _slurm_scheduler(config: Any) -> Scheduler:
    from hpcflow.scheduler.slurm.backend import SlurmScheduler

    return SlurmScheduler()


def settings_from_site(config: Any, home: Path, grace: float | None = None, user: str = "") -> EngineSettings:
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
        user=user,
        partitions={name: part.model_dump(exclude={"default"}) for name, part in config.partitions.items()},
        default_partition=config.default_partition(),
        cache_default=config.cache.default,
        poll_max_s=config.poll_max_s,
    )
