"""Turn a site configuration into engine settings and a scheduler (the engine's view of a site)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpcflow.engine.settings import ContainerSettings, EngineSettings
from hpcflow.scheduler.base import Scheduler
from hpcflow.settings import USER_SITE, Settings


def load_engine_site(config: Settings) -> tuple[EngineSettings, Scheduler, str]:
    """The engine's view of the site ``config`` names (a site file, or local mode)."""
    home = config.home
    if not config.site_file:
        # Plain local mode: no site file to validate, so the models (pydantic) stay unloaded.
        return EngineSettings(work_root=home / "work", user=config.user), _local_scheduler(config), "local"
    from hpcflow.site import load_site

    site = load_site(config.site_file)
    if site.scheduler == "local":
        return _local_settings(site, config), _local_scheduler(config), site.name
    settings = settings_from_site(site, home, user=config.user)
    if site.scheduler == "kubernetes":
        return settings, kubernetes_scheduler(site, settings, config), site.name
    scheduler = _slurm_scheduler(site)
    if site.burst is not None:
        scheduler = _burst_scheduler(site, config.site_file, scheduler, settings, config)
    return settings, scheduler, site.name


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
    )
