"""A job's resources (site defaults < template < executor) and the site's partition limits.

The same merge decides what a job asks the scheduler for and what is checked at submit:
a step that would ask for more than its partition allows (a time limit, CPUs, memory or
GPUs) is a :class:`~hpcflow.errors.SpecError` before anything is stored or submitted,
instead of a job that Slurm rejects, or leaves pending forever, hours later.
"""

from __future__ import annotations

from typing import Any

from hpcflow.engine.settings import EngineSettings
from hpcflow.errors import SpecError
from hpcflow.resources import normalize_resources
from hpcflow.spec.model import ContainerTemplateSpec, OPTemplateSpec, StepSpec, WorkflowSpec

#: (merged resource, partition limit, how the step's request is named in messages)
_LIMITS = (
    ("time_limit_s", "max_time_s", "time"),
    ("cpus", "max_cpus", "cpus"),
    ("memory_mb", "max_memory_mb", "memory"),
    ("gpus", "gpus", "gpus"),
)


def units_per_task(step: StepSpec | None) -> int:
    """How many units one job (array task) runs one after another: ``group_size / pool_size``."""
    slices = step.slices if step is not None else None
    size = (slices.group_size if slices else None) or 1
    pool = (slices.pool_size if slices else None) or 1
    return max(1, -(-size // pool))


def merged_resources(settings: EngineSettings, tmpl: OPTemplateSpec, step: StepSpec | None,
                     units: int) -> dict[str, Any]:
    """What a job of ``step`` asks for; a template ``timeout`` sets the time limit (for all
    ``units`` of the task, plus the margin the runtime needs to report a timeout)."""
    executor = (step.executor if step is not None else None) or {}
    # A step routed to another cluster (executor ``remote``) gets none of this site's defaults.
    defaults = settings.default_resources if not executor.get("remote") else {}
    merged = normalize_resources(defaults, dict(tmpl.resources), executor.get("resources"))
    timeout = tmpl.timeout
    if timeout:
        merged["time_limit_s"] = int(timeout * units) + settings.time_limit_margin_s
    return merged


def check_partition_limits(spec: WorkflowSpec, settings: EngineSettings) -> None:
    """Raise SpecError for the first step whose job would exceed its partition's limits."""
    if not settings.partitions:
        return
    for tmpl_name, tmpl in spec.templates.items():
        if not isinstance(tmpl, ContainerTemplateSpec):
            continue
        for step in tmpl.steps:
            target = spec.templates.get(step.template)
            if not isinstance(target, OPTemplateSpec) or (step.executor or {}).get("remote"):
                continue  # a routed step's partition is another cluster's
            where = f"workflow {spec.name}: step {step.name} (in {tmpl_name})"
            try:
                asked = merged_resources(settings, target, step, units_per_task(step))
            except SpecError as exc:
                raise SpecError(f"{where}: {exc}") from None
            _check(where, asked, target, settings)


def _check(where: str, asked: dict[str, Any], tmpl: OPTemplateSpec, settings: EngineSettings) -> None:
    partition = asked.get("partition") or settings.default_partition
    if partition is None:
        return
    limits = settings.partitions.get(partition)
    if limits is None:
        raise SpecError(f"{where}: partition {partition!r} is not one of the site's partitions "
                        f"({', '.join(sorted(settings.partitions))})")
    for resource, limit_name, label in _LIMITS:
        value, limit = asked.get(resource), limits.get(limit_name)
        if value is None or limit is None or value <= limit:
            continue
        why = ""
        if resource == "time_limit_s" and tmpl.timeout:
            why = f" (its timeout of {tmpl.timeout:g} s per unit plus {settings.time_limit_margin_s} s)"
        raise SpecError(f"{where}: asks for {label} {_show(resource, value)}{why}, but partition "
                        f"{partition!r} allows at most {_show(resource, limit)} "
                        f"({limit_name.removesuffix('_s').removesuffix('_mb')})")


def _show(resource: str, value: int) -> str:
    if resource == "time_limit_s":
        days, rest = divmod(int(value), 86400)
        clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
        return f"{days}-{clock}" if days else clock
    if resource == "memory_mb":
        return f"{value}M"
    return str(value)

