"""Executors: where and with what a step's job runs (Dflow's ``executor=`` on a Step).

An executor only describes the job: batch resources merged over the site's defaults and the
template's, environment variables, shell lines run before the step (``source``, ``module
load``) and how many slices share one job. The site still chooses the scheduler.
"""

from __future__ import annotations

from typing import Any

from hpcflow.errors import NotSupported, SpecError
from hpcflow.resources import normalize_resources


class Executor:
    """Resources and setup for the jobs of the steps that use it.

    Args:
        resources: ``cpus``, ``memory``, ``gpus``, ``time``, ``partition``, ``account``,
            ``qos``, ``constraint``, ``extra_options`` (sbatch options), as for templates.
        envs: environment variables set for the step.
        setup: shell lines run in the job before the step (after the site's own setup).
        group_size / pool_size: slices per job and how many of them run at once, for
            sliced steps that do not set their own in ``Slices``.
    """

    def __init__(self, resources: dict[str, Any] | None = None, envs: dict[str, str] | None = None,
                 setup: list[str] | None = None, group_size: int | None = None,
                 pool_size: int | None = None) -> None:
        self.resources = dict(resources or {})
        self.envs = {str(k): str(v) for k, v in (envs or {}).items()}
        self.setup = [str(line) for line in (setup or [])]
        self.group_size = group_size
        self.pool_size = pool_size
        normalize_resources(self.resources)  # an unknown resource fails here, not at run time
        for name, value in (("group_size", group_size), ("pool_size", pool_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise SpecError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")

    def render(self, template: Any) -> Any:
        """Dflow's hook for rewriting an Argo template; hpcflow has none to rewrite."""
        return template

    def to_spec(self) -> dict[str, Any]:
        """What the compiled step records (read by the engine when it builds the job)."""
        if type(self).render is not Executor.render:
            raise NotSupported(
                f"{type(self).__name__}.render rewrites an Argo template, which hpcflow does not "
                "have; give the executor resources=, envs= and setup= instead")
        return {"resources": normalize_resources(self.resources), "envs": dict(self.envs),
                "setup": list(self.setup), "group_size": self.group_size,
                "pool_size": self.pool_size}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(resources={self.resources!r})"
