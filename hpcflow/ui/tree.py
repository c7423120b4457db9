"""The step tree of a workflow, as the dashboard draws it.

Built from the store's light node rows (never the slices of a fan-out: those are counts)
and the workflow's spec, which says the order of Steps groups and DAG tasks, the
dependencies between tasks, ``when`` conditions and the steps not started yet (drawn as
"not started" so a running workflow shows what is still to come).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpcflow.ui.present import progress

CONTAINERS = ("Steps", "DAG")


@dataclass
class StepView:
    """One box of the tree: a unit, a Steps/DAG, a fan-out (with counts) or a ghost."""

    path: str
    name: str
    type: str
    phase: str
    template: str | None = None
    key: str | None = None
    message: str | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    children: list[StepView] = field(default_factory=list)
    counts: dict[str, int] | None = None
    #: Declared in the spec but not instantiated (yet, or ever: its group never ran).
    ghost: bool = False
    when: str | None = None
    #: Names of the DAG tasks this one depends on.
    depends: list[str] = field(default_factory=list)
    #: The Steps group (a column in the drawing); DAG tasks get their layer.
    column: int = 0
    #: For a recursive Steps/DAG: which iteration of its template this is (1 = the first).
    iteration: int | None = None

    @property
    def is_container(self) -> bool:
        return self.type in CONTAINERS

    @property
    def progress(self) -> dict[str, int] | None:
        return progress(self.counts) if self.counts is not None else None

    def walk(self) -> list[StepView]:
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


def build_tree(rows: list[dict[str, Any]], counts: dict[str, dict[str, int]],
               spec: dict[str, Any], root_path: str = "",
               withdrawn: dict[str, int] | None = None) -> StepView | None:
    """Nest ``rows`` (from ``StoreReader.tree``) under ``root_path``; ``counts`` are the
    phase counts of each fan-out's items, ``withdrawn`` the attempts of each node that
    never ran (``StoreReader.withdrawn_counts``), left out of its attempt count."""
    views = {r["path"]: _view(r, counts, (withdrawn or {}).get(r["path"], 0)) for r in rows}
    root = views.get(root_path)
    if root is None:
        return None
    for r in rows:
        if r["path"] != root_path and r["parent"] in views:
            views[r["parent"]].children.append(views[r["path"]])
    _arrange(root, spec.get("templates", {}), [])
    return root


def fanout_paths(rows: list[dict[str, Any]]) -> list[str]:
    return [r["path"] for r in rows if r["type"] == "FanOut"]


def _view(row: dict[str, Any], counts: dict[str, dict[str, int]], withdrawn: int = 0) -> StepView:
    return StepView(
        path=row["path"], name=row["name"], type=row["type"], phase=row["phase"],
        template=row["template"], key=row["key"], message=row["message"],
        attempts=max(0, (row["attempts"] or 0) - withdrawn), started_at=row["started_at"],
        finished_at=row["finished_at"], data=row.get("data") or {},
        counts=counts.get(row["path"], {}) if row["type"] == "FanOut" else None,
    )


def _arrange(view: StepView, templates: dict[str, Any], ancestors: list[str]) -> None:
    """Order a container's children as its template declares them, add ghosts, recurse."""
    tmpl = templates.get(view.template or "")
    if view.is_container and view.template in ancestors:
        view.iteration = ancestors.count(view.template) + 1
    if view.ghost or view.phase in ("Skipped", "Omitted"):
        return  # it never ran: nothing inside it to show, not even ghosts
    if tmpl is None or tmpl.get("kind") not in ("steps", "dag"):
        return
    by_name = {c.name: c for c in view.children}
    ordered: list[StepView] = []
    if tmpl["kind"] == "steps":
        for col, group in enumerate(tmpl.get("groups", [])):
            for step in group:
                ordered.append(_declared(view, step, by_name, col))
    else:
        layers = dag_layers(tmpl.get("tasks", []))
        for task in tmpl.get("tasks", []):
            child = _declared(view, task, by_name, layers[task["name"]])
            child.depends = list(task.get("dependencies", []))
            ordered.append(child)
    seen = {id(c) for c in ordered}
    ordered += [c for c in view.children if id(c) not in seen]  # anything the spec lacks
    view.children = ordered
    inner = [*ancestors, view.template or ""]
    if any(c.template == view.template for c in ordered):
        view.iteration = view.iteration or 1  # the first iteration of a recursion
    for child in ordered:
        _arrange(child, templates, inner)


def _declared(parent: StepView, step: dict[str, Any], by_name: dict[str, StepView],
              column: int) -> StepView:
    child = by_name.get(step["name"])
    if child is None:
        path = f"{parent.path}/{step['name']}" if parent.path else step["name"]
        child = StepView(path=path, name=step["name"], type="Step", phase="Not started",
                         template=step.get("template"), ghost=True)
    child.column = column
    when = step.get("when")
    if when is not None:
        child.when = str(when.get("t", when)) if isinstance(when, dict) else str(when)
    return child


def dag_layers(tasks: list[dict[str, Any]]) -> dict[str, int]:
    """Each task's layer: 0 without dependencies, else one more than its deepest dependency."""
    deps = {t["name"]: list(t.get("dependencies", [])) for t in tasks}
    layers: dict[str, int] = {}

    def layer(name: str, stack: tuple[str, ...] = ()) -> int:
        if name in layers:
            return layers[name]
        if name in stack or name not in deps:  # validated specs have no cycles
            return 0
        layers[name] = 1 + max((layer(d, (*stack, name)) for d in deps[name]), default=-1)
        return layers[name]

    for name in deps:
        layer(name)
    return layers
