"""OP templates: what runs (a Python OP, a shell script, a Python script) and with which policy.

Policies (timeout, retries, image, resources) live on the template as in Dflow; a Step may
override some of them. Templates only hold data.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from hpcflow.dsl.io import (
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
)

_counter = itertools.count()


def unique_name(base: str) -> str:
    """A readable, unique template name (``my-op-3``): Argo-style lowercase with hyphens."""
    slug = re.sub(r"(?<!^)(?=[A-Z])", "-", base).lower()
    slug = re.sub(r"[^a-z0-9-]+", "-", slug).strip("-") or "template"
    return f"{slug}-{next(_counter)}"


class OPTemplate:
    """Common fields of every executable template."""

    kind = "op"

    def __init__(
        self,
        name: str | None = None,
        inputs: Inputs | None = None,
        outputs: Outputs | None = None,
        image: str | None = None,
        command: list[str] | None = None,
        timeout: float | None = None,
        retry_on_transient_error: int | None = None,
        retry_on_failure: int | None = None,
        timeout_as_transient_error: bool = False,
        envs: dict[str, str] | None = None,
        requests: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        resources: dict[str, Any] | None = None,
        pre_script: str = "",
        post_script: str = "",
        python_packages: list[str] | None = None,
        cache: bool | None = None,
        cache_version: str | int | None = None,
        **ignored: Any,
    ) -> None:
        self.name = name or unique_name(type(self).__name__)
        self.inputs = inputs or Inputs()
        self.outputs = outputs or Outputs()
        self.image = image
        self.command = list(command) if command else None
        self.timeout = timeout
        self.retry_on_transient_error = retry_on_transient_error
        self.retry_on_failure = retry_on_failure
        self.timeout_as_transient_error = timeout_as_transient_error
        self.envs = dict(envs or {})
        self.requests = dict(requests or {})
        self.limits = dict(limits or {})
        self.resources = dict(resources or {})
        self.pre_script = pre_script
        self.post_script = post_script
        self.python_packages = [str(p) for p in (python_packages or [])]
        #: Reuse results of identical runs from the store's result cache (hpcflow.cache);
        #: ``None``: the site's ``[cache] default``. Bump ``cache_version`` to invalidate.
        self.cache = cache
        self.cache_version = cache_version
        #: Argo/Kubernetes-only options (node_selector, tolerations, ...): accepted, ignored.
        self.ignored_options = sorted(ignored)


class ShellOPTemplate(OPTemplate):
    """A shell script with ``{{inputs.parameters.x}}`` placeholders (Dflow's ShellOPTemplate)."""

    kind = "shell"

    def __init__(self, name: str | None = None, image: str | None = None, script: str = "",
                 command: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, image=image, command=command or ["sh"], **kwargs)
        self.script = script


class PythonScriptOPTemplate(OPTemplate):
    """A Python script with ``{{inputs.parameters.x}}`` placeholders."""

    kind = "script"

    def __init__(self, name: str | None = None, image: str | None = None, script: str = "",
                 command: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, image=image, command=command or ["python3"], **kwargs)
        self.script = script


__all__ = [
    "InputArtifact",
    "InputParameter",
    "Inputs",
    "OPTemplate",
    "OutputArtifact",
    "OutputParameter",
    "Outputs",
    "PythonScriptOPTemplate",
    "ShellOPTemplate",
]
