"""Early launches: steps instantiated while the steps before them still run.

A Steps group normally starts when the group before it is final. When the scheduler can
queue a job behind others (Slurm ``--dependency=afterok``), or the template asks for
fusion (``Steps(fuse=True)``), :func:`ahead` instantiates the next groups at once, as long
as what they need is fully determined by steps already launched: no ``when``, no ``key``,
no cache, no ``continue_on_*`` on either side, OP templates only, and every reference to
a step still running is a whole-value reference to one of its outputs
(``{{steps.a.outputs.parameters.y}}``), which becomes a *deferred* input
(``node.data["deferred"]``): the runtime reads it from the producer's attempt directory
(``hpcflow.runtime.deferred``).

A chained node remembers which attempt of each unit it waits for (``data["chained_to"]``,
set when it is planned). When one of those attempts fails, the chain is broken: the node
is *withdrawn* (its job cancelled, its attempt closed as cancelled, not counted) and
planned again after its producer's next attempt; when a producer fails for good, the
chained nodes after it are Omitted (:func:`abandon`). Nothing here talks to a scheduler:
the engine reads ``run.withdrawn`` (``hpcflow.engine.chain_jobs``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpcflow import frozen
from hpcflow.engine import model as m
from hpcflow.engine.model import Node, child_path
from hpcflow.engine.routes import step_route
from hpcflow.engine.scope import Scope
from hpcflow.engine.slicing import slice_width
from hpcflow.errors import ExpressionError
from hpcflow.spec.model import ContainerTemplateSpec, OPTemplateSpec, StepSpec, TemplateValue, Value
from hpcflow.spec.validate import value_refs

if TYPE_CHECKING:
    from hpcflow.engine.run import WorkflowRun

#: A whole-value reference to one output of a sibling step.
_DIRECT = re.compile(r"\{\{\s*(?:steps|tasks)\.([^.\s{}\[\]]+)\.outputs\."
                     r"(parameters|artifacts)\.([^.\s{}\[\]]+)\s*\}\}")
_LIVE = (m.PENDING, m.RUNNING, m.SUCCEEDED)
#: A step waiting for more units than this is launched when they end, as before: its
#: links (one entry per unit, in its node and its task record) would cost more than the
#: queue wait they save.
MAX_WAITED_UNITS = 20_000
#: The same bound over every unit of the step (a fan-out's slices each wait for them all).
MAX_LINKS = 100_000
_ITEM = re.compile(r"\{\{\s*item\s*\}\}")


@dataclass(frozen=True)
class ChainOptions:
    """What the engine allows: ``jobs`` when its scheduler queues dependants (Slurm)."""

    jobs: bool = False
    #: When its tasks run on the attempt directories, so fused units can read each other's.
    fuse: bool = False
    #: The site's ``[cache] default``: cached steps are never launched early (their key
    #: needs their inputs).
    cache_default: bool = False


# ---------------------------------------------------------------------------- ahead


def ahead(run: WorkflowRun, container: Node, tmpl: ContainerTemplateSpec, scope: Scope,
          running_group: int) -> None:
    """Withdraw broken chains after group ``running_group`` (still running), then launch
    the following groups early while they qualify."""
    groups = tmpl.groups
    for group in groups[running_group + 1:]:
        for step in group:
            child = run.get(child_path(container.path, step.name))
            if child is not None:
                for unit in _units(run, child):
                    check(run, unit)
    for j in range(running_group + 1, len(groups)):
        for step in groups[j]:
            child = run.get(child_path(container.path, step.name))
            if child is None:
                fuse = _fusable(run, tmpl, j, step, container)
                child = _instantiate_early(run, container, tmpl, scope, step,
                                           [s.name for s in groups[j - 1]], fuse)
                if child is None:
                    return
            if child.final and child.phase != m.SUCCEEDED:
                return
            for unit in _units(run, child):
                if unit.phase == m.PENDING:
                    run.launches[unit.path] = unit


def ahead_dag(run: WorkflowRun, container: Node, tmpl: ContainerTemplateSpec, scope: Scope) -> None:
    """The DAG's form of :func:`ahead`: tasks whose dependencies are launched but not
    final are launched behind them; a chained task whose dependency failed for good is
    Omitted, as a task instantiated after that failure would be."""
    for task in tmpl.steps:
        path = child_path(container.path, task.name)
        child = run.get(path)
        if child is not None:
            if child.data.get("after") is None or child.final:
                continue
            deps = [run.get(child_path(container.path, d)) for d in child.data["after"]]
            bad = next((d for d in deps if d is not None and d.final and d.phase != m.SUCCEEDED), None)
            for unit in _units(run, child):
                if bad is not None:
                    if unit.phase == m.RUNNING and unit.attempts:
                        run.withdrawn[unit.path] = (unit, unit.attempts, f"{bad.name} {bad.phase.lower()}")
                    if not unit.final:
                        run.set_phase(unit, m.OMITTED, f"not run: dependency {bad.name} failed")
                else:
                    check(run, unit)
            if bad is not None and not child.final:
                run.set_phase(child, m.OMITTED, f"not run: dependency {bad.name} failed")
            continue
        deps = [run.get(child_path(container.path, d)) for d in task.dependencies]
        if not task.dependencies or any(d is None for d in deps) \
                or all(d is not None and d.final for d in deps):
            continue  # not ready, or ready the ordinary way
        child = _instantiate_early(run, container, tmpl, scope, task, list(task.dependencies), None)
        if child is not None and not child.final:
            for unit in _units(run, child):
                if unit.phase == m.PENDING:
                    run.launches[unit.path] = unit


def abandon(run: WorkflowRun, container: Node, tmpl: ContainerTemplateSpec, failed_group: int,
            reason: str) -> None:
    """The container failed at ``failed_group``: what was launched after it never runs."""
    for group in tmpl.groups[failed_group + 1:]:
        for step in group:
            child = run.get(child_path(container.path, step.name))
            if child is None or child.final:
                continue
            for unit in _units(run, child):
                if unit.phase == m.RUNNING and unit.attempts:
                    run.withdrawn[unit.path] = (unit, unit.attempts, reason)
                if not unit.final:
                    run.set_phase(unit, m.OMITTED, f"not run: {reason}")
            if not child.final:
                run.set_phase(child, m.OMITTED, f"not run: {reason}")


def check(run: WorkflowRun, unit: Node) -> None:
    """Withdraw ``unit``'s attempt if an attempt it was chained to is no longer current."""
    chained = unit.data.get("chained_to")
    if not chained or unit.phase != m.RUNNING:
        return
    for path, number in chained.items():
        producer = run.get(path)
        if producer is None or producer.phase not in (m.RUNNING, m.SUCCEEDED) \
                or producer.attempts != number:
            why = f"{producer.name if producer else path} attempt {number} did not succeed"
            run.withdrawn[unit.path] = (unit, unit.attempts, why)
            unit.data.pop("chained_to", None)
            unit.data.pop("fused_with", None)
            run.set_phase(unit, m.PENDING, f"re-planned: {why}")
            return


def waiting_on_producers(run: WorkflowRun, unit: Node | None) -> bool:
    """A chained unit whose producers have not all succeeded: what its job did (or that
    it vanished) says nothing yet; its producers decide first."""
    chained = unit.data.get("chained_to") if unit is not None else None
    if not chained:
        return False
    return any((p := run.get(path)) is None or p.phase != m.SUCCEEDED for path in chained)


def depth(unit: Node | None) -> int:
    """How many early links lead to ``unit`` (producers are handled before dependants)."""
    return int(unit.data.get("chain", 0)) if unit is not None else 0


def settle(run: WorkflowRun, unit: Node) -> None:
    """Once every producer succeeded, the deferred inputs become ordinary inputs."""
    deferred = unit.data.get("deferred")
    if not deferred:
        return
    container = run.get(unit.parent or "")
    if container is not None and container.type == m.FANOUT:
        container = run.get(container.parent or "")
    step = run.step_spec(unit)
    if container is None or step is None:
        return
    names = {src["step"] for section in deferred.values() for src in section.values()}
    if any((p := run.get(child_path(container.path, n))) is None or p.phase != m.SUCCEEDED
           for n in names):
        return
    scope = Scope(container, run.get, run.workflow_parameters)
    inputs = unit.inputs if unit.inputs is not None else {"parameters": {}, "artifacts": {}}
    try:
        for section, given in (("parameters", step.parameters), ("artifacts", step.artifacts)):
            for name in deferred.get(section, {}):
                value = scope.resolve_artifact(given[name]) if section == "artifacts" \
                    else scope.resolve(given[name])
                index = deferred[section][name].get("index")
                inputs.setdefault(section, {})[name] = value if index is None else value[index]
    except ExpressionError:
        return  # the runtime read them already; the node keeps its deferred sources
    unit.inputs = inputs
    unit.data.pop("deferred", None)
    run.touch(unit)


# ---------------------------------------------------------------------- eligibility


def _instantiate_early(run: WorkflowRun, container: Node, tmpl: ContainerTemplateSpec,
                       scope: Scope, step: StepSpec, waits_for: list[str],
                       fuse: str | None) -> Node | None:
    """Instantiate ``step``, which must follow the steps ``waits_for``, now, with deferred
    inputs, or return None."""
    target = run.templates.get(step.template)
    if not isinstance(target, OPTemplateSpec) or not _plain(step, target, run.chaining.cache_default):
        return None
    siblings = {s.name: run.get(child_path(container.path, s.name)) for s in tmpl.steps}
    unsettled = {n for n, node in siblings.items() if node is not None and not node.final}
    deferred: dict[str, dict[str, Any]] = {"parameters": {}, "artifacts": {}}
    kept: dict[str, dict[str, Value]] = {"parameters": {}, "artifacts": {}}
    for section, given in (("parameters", step.parameters), ("artifacts", step.artifacts)):
        for name, value in given.items():
            source = _source(run, value, unsettled, siblings, section)
            if source is False:
                return None
            if source is None:
                kept[section][name] = value
            else:
                deferred[section][name] = source
    for item in (step.with_param, step.with_sequence, step.slices.slices if step.slices else None):
        if _touches(item, unsettled):
            return None
    per_slice = _per_slice(run, step, scope, siblings, deferred)
    if per_slice is None:
        return None
    after = list(waits_for) + [src["step"] for sec in deferred.values() for src in sec.values()]
    after_nodes = [siblings.get(n) for n in dict.fromkeys(after)]
    if not all(p is not None and _chainable(run, p) for p in after_nodes):
        return None
    waited = sum(len(_units(run, p)) for p in after_nodes if p is not None)
    if waited > MAX_WAITED_UNITS or waited * _width(run, step, target, scope) > MAX_LINKS:
        return None
    if not run.chaining.jobs and fuse is None:
        return None
    early = frozen.replace(step, parameters=kept["parameters"], artifacts=kept["artifacts"])
    node = run.instantiate(container, early, scope)
    data: dict[str, Any] = {"after": list(dict.fromkeys(after)),
                            "chain": 1 + max(depth(p) for p in after_nodes)}
    if any(deferred.values()):
        data["deferred"] = {k: v for k, v in deferred.items() if v}
    if fuse is not None:
        data["fuse"] = fuse
    for unit in _units(run, node):
        unit.data.update(data)
        if per_slice and "deferred" in data:  # slice i reads output i of the producing fan-out
            own = {sec: dict(v) for sec, v in data["deferred"].items()}
            for name in per_slice:
                own["parameters"][name] = {**own["parameters"][name], "index": unit.item}
            unit.data["deferred"] = own
    return node


def _per_slice(run: WorkflowRun, step: StepSpec, scope: Scope, siblings: dict[str, Node | None],
               deferred: dict[str, dict[str, Any]]) -> set[str] | None:
    """The deferred inputs this sliced step cuts into slices (``set()``: none), or None when
    it cannot be launched early: only parameters stacked by a fan-out, sliced by
    ``{{item}}`` over a known ``with_param`` of indexes into it."""
    if step.slices is None:
        return set()
    cut = set(step.slices.input_parameter) | set(step.slices.input_artifact)
    names = cut & (set(deferred["parameters"]) | set(deferred["artifacts"]))
    if not names:
        return set()
    if names & set(deferred["artifacts"]) or not isinstance(step.slices.slices, TemplateValue) \
            or not _ITEM.fullmatch(step.slices.slices.text):
        return None
    try:
        items = run._items(step, scope)
    except ExpressionError:
        return None
    for name in names:
        producer = siblings.get(deferred["parameters"][name]["step"])
        if producer is None or producer.type != m.FANOUT or items is None:
            return None
        width = len(run.children.get(producer.path, []))
        if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < width for i in items):
            return None
    return names


def _width(run: WorkflowRun, step: StepSpec, target: OPTemplateSpec, scope: Scope) -> int:
    """How many units ``step`` will have (a large number when that cannot be told now)."""
    try:
        items = run._items(step, scope)
        if items is not None:
            return max(1, len(items))
        if step.slices is None:
            return 1
        static = run._resolve_inputs(step, target, scope, only_static=True)
        return max(1, slice_width(step.slices, static))
    except ExpressionError:
        return MAX_LINKS + 1


def _plain(step: StepSpec, target: OPTemplateSpec, cache_default: bool) -> bool:
    """No condition, reuse, cache or failure threshold: what runs is fully decided."""
    cache = step.cache if step.cache is not None else target.extra.get("cache")
    if step_route(step.executor) is not None:
        return False  # a routed step's job runs on another cluster: no afterok across clusters
    return (step.when is None and step.key is None and not step.continue_on_failed
            and step.continue_on_num_success is None and step.continue_on_success_ratio is None
            and not (cache if cache is not None else cache_default))


def _source(run: WorkflowRun, value: Value, unsettled: set[str], siblings: dict[str, Node | None],
            section: str) -> dict[str, Any] | None | bool:
    """None: resolvable now; a deferred source; False: needs a running step otherwise."""
    if not _touches(value, unsettled):
        return None
    match = _DIRECT.fullmatch(value.text) if isinstance(value, TemplateValue) else None
    if match is None or match.group(2) != section:
        return False
    name, _, output = match.groups()
    producer = siblings.get(name)
    tmpl = run.templates.get(producer.template or "") if producer is not None else None
    if not isinstance(tmpl, OPTemplateSpec):
        return False
    declared = getattr(tmpl.outputs, section)
    if output not in declared or (section == "parameters" and declared[output].default is not None):
        return False  # a default is filled in by the engine, which the runtime cannot see
    return {"step": name, "output": output}


def _touches(value: Value | None, unsettled: set[str]) -> bool:
    if value is None:
        return False
    try:
        refs = value_refs(value)
    except ExpressionError:
        return True
    return any(r[0] in ("steps", "tasks") and len(r) > 1 and r[1] in unsettled for r in refs)


def _chainable(run: WorkflowRun, node: Node) -> bool:
    """A unit, or a fan-out of units, that is launched or about to be, with no threshold."""
    step = run.step_spec(node)
    tmpl = run.templates.get(node.template or "")
    if not isinstance(tmpl, OPTemplateSpec) or step is None:
        return False
    if step_route(step.executor) is not None:
        return False  # its job ids live on another cluster's Slurm
    if step.continue_on_failed or step.continue_on_num_success is not None \
            or step.continue_on_success_ratio is not None:
        return False
    if node.phase not in _LIVE:
        return False
    return all(u.phase in _LIVE for u in _units(run, node))


def _fusable(run: WorkflowRun, tmpl: ContainerTemplateSpec, j: int, step: StepSpec,
             container: Node) -> str | None:
    """The previous step's name when ``step`` can run in its job (``Steps(fuse=True)``)."""
    if not run.chaining.fuse or not tmpl.fuse or len(tmpl.groups[j]) != 1 or len(tmpl.groups[j - 1]) != 1:
        return None
    prev = tmpl.groups[j - 1][0]
    node = run.get(child_path(container.path, prev.name))
    prev_tmpl = run.templates.get(prev.template)
    target = run.templates.get(step.template)
    if node is None or node.type != m.POD or not isinstance(prev_tmpl, OPTemplateSpec) \
            or not isinstance(target, OPTemplateSpec):
        return None
    if step.slices or step.with_param is not None or step.with_sequence is not None:
        return None
    if _job_shape(prev, prev_tmpl) != _job_shape(step, target):
        return None
    return prev.name


def _job_shape(step: StepSpec, tmpl: OPTemplateSpec) -> tuple[Any, ...]:
    """What must match for two steps to share a job (the time limit may differ)."""
    executor = dict(step.executor or {})
    resources = {k: v for k, v in tmpl.resources.items() if k != "time_limit_s"}
    return (tmpl.image, sorted(resources.items()), repr(sorted(executor.items())))


def _units(run: WorkflowRun, node: Node) -> list[Node]:
    """The units of a node: itself, or a fan-out's slices."""
    if node.type == m.FANOUT:
        return [run.nodes[p] for p in run.children.get(node.path, [])]
    return [node] if node.type == m.POD else []
