"""Step and Task: one use of a template, with its arguments and control options."""

from __future__ import annotations

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
from hpcflow.errors import SpecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"{kind} name {name!r} is invalid: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


class Step:
    """Run ``template`` with ``parameters`` and ``artifacts`` (Dflow's Step)."""

    _ref_prefix = "steps"

    def __init__(
        self,
        name: str,
        template: Any,
        parameters: dict[str, Any] | None = None,
        artifacts: dict[str, Any] | None = None,
        when: Any = None,
        with_param: Any = None,
        with_sequence: Any = None,
        continue_on_failed: bool = False,
        continue_on_num_success: int | None = None,
        continue_on_success_ratio: float | None = None,
        parallelism: int | None = None,
        key: Any = None,
        executor: Any = None,
        slices: Any = None,
        dependencies: list[Any] | None = None,
        cache: bool | None = None,
        **ignored: Any,
    ) -> None:
        self.name = check_name("step", name)
        if template is None:
            raise SpecError(f"step {name!r}: template is required")
        self.template = template
        self.parameters = dict(parameters or {})
        self.artifacts = dict(artifacts or {})
        self.when = when
        self.with_param = with_param
        self.with_sequence = with_sequence
        self.continue_on_failed = continue_on_failed
        self.continue_on_num_success = continue_on_num_success
        self.continue_on_success_ratio = continue_on_success_ratio
        self.parallelism = parallelism
        self.key = key
        self.executor = executor
        self.slices = slices
        self.dependencies = list(dependencies or [])
        #: Use the result cache for this step (overrides its template and the site).
        self.cache = cache
        #: Argo-only knobs (util_image, pod settings...) are accepted and ignored.
        self.ignored_options = sorted(ignored)
        if continue_on_success_ratio is not None and not 0 <= continue_on_success_ratio <= 1:
            raise SpecError(
                f"step {name!r}: continue_on_success_ratio must be between 0 and 1, "
                f"got {continue_on_success_ratio}"
            )
        self._bind_io()
        _add_to_open_container(self)

    def _bind_io(self) -> None:
        owner = f"{self._ref_prefix}.{self.name}"
        tmpl_in = getattr(self.template, "inputs", Inputs())
        tmpl_out = getattr(self.template, "outputs", Outputs())
        self.inputs = Inputs(owner_path=f"{owner}.inputs")
        for k in tmpl_in.parameters:
            self.inputs.parameters[k] = InputParameter()
        for k in tmpl_in.artifacts:
            self.inputs.artifacts[k] = InputArtifact()
        self.outputs = Outputs(owner_path=f"{owner}.outputs")
        for k in tmpl_out.parameters:
            self.outputs.parameters[k] = OutputParameter()
        for k in tmpl_out.artifacts:
            self.outputs.artifacts[k] = OutputArtifact()
        self.inputs.parameters.bind(f"{owner}.inputs")
        self.inputs.artifacts.bind(f"{owner}.inputs")
        self.outputs.bind(f"{owner}.outputs")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # Dflow's ``a >> b`` style is not part of its API; dependencies use ``dependencies=[...]``.


def _add_to_open_container(step: Step) -> None:
    """A step made inside ``with Workflow()`` / ``with Steps()`` / ``with DAG()`` joins it, as
    in Dflow (adding it again explicitly is harmless)."""
    from hpcflow import context

    container = context.current()
    if container is not None:
        getattr(container, "entry", container).add(step)


class Task(Step):
    """A DAG node; its outputs render as ``{{tasks.NAME...}}``."""

    _ref_prefix = "tasks"
