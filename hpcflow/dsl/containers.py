"""Steps and DAG: templates made of other steps (super-OPs), usable as ``with`` blocks."""

from __future__ import annotations

from typing import Any

from hpcflow.dsl.io import Inputs, Outputs
from hpcflow.dsl.step import Step, Task
from hpcflow.dsl.templates import unique_name
from hpcflow.errors import SpecError


class _Container:
    kind = "steps"

    def __init__(
        self,
        name: str | None = None,
        inputs: Inputs | None = None,
        outputs: Outputs | None = None,
        parallelism: int | None = None,
        **ignored: Any,
    ) -> None:
        self.name = name or unique_name(type(self).__name__)
        self.inputs = inputs or Inputs()
        self.outputs = outputs or Outputs()
        self.parallelism = parallelism
        self.ignored_options = sorted(ignored)

    def __enter__(self) -> _Container:
        from hpcflow import context  # a job imports the DSL with the user's OPs, never enters it

        context.push(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        from hpcflow import context

        context.pop(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Steps(_Container):
    """Groups of steps run in order; the steps of one group run in parallel.

    ``fuse=True`` (hpcflow's own option) runs consecutive single-step groups of OPs with the
    same resources inside one job, one after the other: the chain queues once. Each step
    keeps its own attempt, retries and exit record.
    """

    kind = "steps"

    def __init__(self, name: str | None = None, inputs: Inputs | None = None,
                 outputs: Outputs | None = None, steps: list[Any] | None = None,
                 fuse: bool = False, **kwargs: Any) -> None:
        super().__init__(name, inputs, outputs, **kwargs)
        self.fuse = bool(fuse)
        self.groups: list[list[Step]] = []
        for s in steps or []:
            self.add(s)

    def add(self, step: Step | list[Step]) -> None:
        """Append a step, or a list of steps that run in parallel."""
        group = list(step) if isinstance(step, (list, tuple)) else [step]
        for s in group:
            if not isinstance(s, Step):
                raise SpecError(f"Steps {self.name}: can only add Step objects, got {s!r}")
        added = {id(s) for g in self.groups for s in g}
        group = [s for s in group if id(s) not in added]  # made inside `with self:`, then added
        if group:
            self.groups.append(group)

    @property
    def steps(self) -> list[list[Step]]:
        return self.groups


class DAG(_Container):
    """Tasks run as soon as the tasks they depend on have finished."""

    kind = "dag"

    def __init__(self, name: str | None = None, inputs: Inputs | None = None,
                 outputs: Outputs | None = None, tasks: list[Task] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, inputs, outputs, **kwargs)
        self.tasks: list[Task] = []
        for t in tasks or []:
            self.add(t)

    def add(self, task: Task | list[Task]) -> None:
        for t in task if isinstance(task, (list, tuple)) else [task]:
            if not isinstance(t, Step):
                raise SpecError(f"DAG {self.name}: can only add Task objects, got {t!r}")
            if all(t is not known for known in self.tasks):
                self.tasks.append(t)
