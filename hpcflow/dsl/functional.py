"""Calling a function OP inside a ``with Workflow()/Steps()/DAG()`` block creates a step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpcflow import context
from hpcflow.dsl.containers import DAG, Steps
from hpcflow.dsl.step import Step, Task
from hpcflow.errors import SpecError

if TYPE_CHECKING:
    from hpcflow.python.op import OP


def call_in_context(op_class: type[OP], *args: Any, **kwargs: Any) -> Step:
    """Add a step running ``op_class`` to the innermost container and return it."""
    from hpcflow.python.opio import Artifact, as_sign
    from hpcflow.python.template import PythonOPTemplate

    if args:
        raise SpecError(f"function OP {op_class.__name__}: pass inputs by keyword inside a workflow")
    container = context.current()
    target = getattr(container, "entry", container)
    step_opts = {k: kwargs.pop(k) for k in list(kwargs) if k.startswith("_") is False and k in _STEP_OPTIONS}
    sign = as_sign(op_class.get_input_sign())
    parameters: dict[str, Any] = {}
    artifacts: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in sign:
            raise SpecError(f"function OP {op_class.__name__}: unknown input {key!r}")
        (artifacts if isinstance(sign[key], Artifact) else parameters)[key] = value
    name = _unique_step_name(target, op_class.__name__.replace("_", "-"))
    template = PythonOPTemplate(op_class)
    cls = Task if isinstance(target, DAG) else Step
    step = cls(name=name, template=template, parameters=parameters, artifacts=artifacts, **step_opts)
    if isinstance(target, DAG) and isinstance(step, Task):  # cls is Task for a DAG
        target.add(step)
    elif isinstance(target, Steps):
        target.add(step)
    else:
        raise SpecError(f"cannot add a step to {target!r}")
    return step


_STEP_OPTIONS = {
    "with_param", "with_sequence", "when", "key", "continue_on_failed",
    "continue_on_num_success", "continue_on_success_ratio", "parallelism", "slices",
    "dependencies",
}


def _unique_step_name(container: Any, base: str) -> str:
    existing = set()
    if isinstance(container, Steps):
        existing = {s.name for g in container.groups for s in g}
    elif isinstance(container, DAG):
        existing = {t.name for t in container.tasks}
    if base not in existing:
        return base
    i = 2
    while f"{base}-{i}" in existing:
        i += 1
    return f"{base}-{i}"
