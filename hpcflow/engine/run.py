"""One workflow's interpretation: instantiate steps, advance Steps/DAG/fan-outs, stack outputs.

``WorkflowRun.advance()`` is idempotent: it walks the node tree from the root, creates the
nodes that became ready, and derives container phases from their children. Units (Pods)
that need an attempt are collected in ``launches``; the engine starts them.
"""

from __future__ import annotations

import json
from typing import Any

from hpcflow import frozen
from hpcflow.engine import chain
from hpcflow.engine import model as m
from hpcflow.engine.chain import ChainOptions
from hpcflow.engine.hashes import HashIndex
from hpcflow.engine.job_env import LaunchRecord
from hpcflow.engine.model import Node, child_path
from hpcflow.engine.retry import Verdict, decide
from hpcflow.engine.scope import Scope
from hpcflow.engine.slicing import SliceSource, slice_width, stack_outputs, take_slice
from hpcflow.errors import ExpressionError
from hpcflow.spec.model import (
    ContainerTemplateSpec,
    OPTemplateSpec,
    OutputParameterSpec,
    SlicesSpec,
    StepSpec,
    TemplateSpec,
    Value,
    WorkflowSpec,
)
from hpcflow.spec.validate import value_refs
from hpcflow.states import ErrorKind, NodeType, Phase

OP_KINDS = ("python", "shell", "script")


class WorkflowRun:
    """The in-memory state of one workflow, written back to the store by the engine."""

    def __init__(self, row: dict[str, Any], nodes: list[Node]) -> None:
        self.id: str = row["id"]
        self.name: str = row["name"]
        self.spec = WorkflowSpec.from_json(row["spec"])
        self.work_dir: str = row["work_dir"]
        self.revision: int = row.get("revision", 0)
        self.launch = LaunchRecord.from_json(row.get("launch"))
        self.templates = self.spec.templates
        self.reuse: dict[str, dict[str, Any]] = {r["key"]: r for r in (row.get("reuse") or [])}
        self.nodes: dict[str, Node] = {}
        self.children: dict[str, list[str]] = {}
        self.hashes = HashIndex()  # content hashes of published artifacts, by path
        for n in nodes:
            self._register(n)
        self.dirty: dict[str, Node] = {}
        self.events: list[tuple[str | None, str, str]] = []
        self.launches: dict[str, Node] = {}
        #: Early launches (hpcflow.engine.chain): what the engine allows, and the chained
        #: attempts to withdraw (node, attempt number, why) because a producer failed.
        self.chaining = ChainOptions()
        self.withdrawn: dict[str, tuple[Node, int, str]] = {}
        self.workflow_parameters = {
            k: Scope(Node("", None, "", None, m.STEPS), self.get, {}).resolve(v)
            for k, v in self.spec.parameters.items()
        }
        self._step_specs: dict[tuple[str, str], StepSpec] = {}
        for tname, tmpl in self.templates.items():
            for step in _steps_of(tmpl):
                self._step_specs[(tname, step.name)] = step

    # ------------------------------------------------------------------------ bookkeeping

    def get(self, path: str) -> Node | None:
        return self.nodes.get(path)

    def _register(self, node: Node) -> None:
        self.nodes[node.path] = node
        self.hashes.add(node)
        if node.parent is not None:
            self.children.setdefault(node.parent, []).append(node.path)

    def add(self, node: Node) -> Node:
        self._register(node)
        self.touch(node)
        self.events.append((node.path, "created", f"{node.name}: {node.phase}"))
        return node

    def touch(self, node: Node) -> None:
        self.dirty[node.path] = node

    def set_phase(self, node: Node, phase: Phase, message: str | None = None) -> None:
        if phase in m.FINAL:
            node.finish(phase, message)
        else:
            node.phase = phase
            if message is not None:
                node.message = message
        self.touch(node)
        self.events.append((node.path, phase.lower(), message or f"{node.name}: {phase}"))

    def step_spec(self, node: Node) -> StepSpec | None:
        ref = node.data.get("step")
        return self._step_specs.get((ref[0], ref[1])) if ref else None

    def op_template(self, node: Node) -> OPTemplateSpec:
        """The OP template a unit runs."""
        return self.spec.op_template(node.template or "")

    def container_template(self, node: Node) -> ContainerTemplateSpec:
        tmpl = self.templates[node.template or ""]
        assert isinstance(tmpl, ContainerTemplateSpec), f"{node.path} runs no Steps/DAG template"
        return tmpl

    # -------------------------------------------------------------------------- advance

    def ensure_root(self) -> Node:
        root = self.nodes.get("")
        if root is None:
            entry = self.spec.entrypoint
            root = Node("", None, self.id, entry, _type_of(self.templates[entry]))
            root.inputs = {"parameters": {}, "artifacts": {}}
            tmpl = self.templates[entry]
            scope = Scope(root, self.get, self.workflow_parameters)
            for k, decl in tmpl.inputs.parameters.items():
                if k in self.workflow_parameters:
                    root.inputs["parameters"][k] = self.workflow_parameters[k]
                elif decl.default is not None:
                    root.inputs["parameters"][k] = scope.resolve(decl.default)
            self.add(root)
        return root

    def advance(self, node: Node | None = None) -> str:
        node = node or self.ensure_root()
        if node.data.get("deferred"):  # launched early: its inputs are known once producers succeed
            chain.settle(self, node)
        if node.final:
            return node.phase
        if node.started_at is None:
            node.started_at = node.created_at
        if node.type == m.FANOUT:
            return self._advance_fanout(node)
        kind = self.templates[node.template or ""].kind
        if kind == "steps":
            return self._advance_steps(node)
        if kind == "dag":
            return self._advance_dag(node)
        if node.phase == m.PENDING:
            self.launches[node.path] = node
        return node.phase

    def _scope(self, node: Node) -> Scope:
        return Scope(node, self.get, self.workflow_parameters)

    def _advance_steps(self, node: Node) -> str:
        tmpl = self.container_template(node)
        self._mark_running(node)
        scope = self._scope(node)
        early = self.chaining.jobs or (tmpl.fuse and self.chaining.fuse)
        for index, group in enumerate(tmpl.groups):
            kids = []
            for step in group:
                child = self.get(child_path(node.path, step.name))
                if child is None:
                    child = self.instantiate(node, step, scope)
                kids.append((step, child))
            phases = [self.advance(child) for _, child in kids]
            if any(p not in m.FINAL for p in phases):
                if early:  # the next groups may be launched now, behind this one
                    chain.ahead(self, node, tmpl, scope, index)
                return m.RUNNING
            for step, child in kids:
                if child.phase == m.FAILED and not step.continue_on_failed:
                    self.set_phase(node, m.FAILED, f"step {child.name} failed: {child.message}")
                    if early:
                        chain.abandon(self, node, tmpl, index, f"step {child.name} failed")
                    return m.FAILED
        return self._finish_container(node, tmpl, scope)

    def _advance_dag(self, node: Node) -> str:
        tmpl = self.container_template(node)
        self._mark_running(node)
        scope = self._scope(node)
        specs = {t.name: t for t in tmpl.steps}
        done = True
        for task in tmpl.steps:
            path = child_path(node.path, task.name)
            child = self.get(path)
            if child is None:
                deps = [self.get(child_path(node.path, d)) for d in task.dependencies]
                if any(d is None or not d.final for d in deps):
                    done = False
                    continue
                bad = [d for d in deps if d is not None and d.phase in (m.FAILED, m.OMITTED)
                       and not specs[_base_name(d.name)].continue_on_failed]
                if bad:
                    child = self.add(Node(path, node.path, task.name, task.template,
                                          _type_of(self.templates[task.template]),
                                          phase=m.OMITTED,
                                          message=f"not run: dependency {bad[0].name} failed"))
                    child.finished_at = child.created_at
                    continue
                child = self.instantiate(node, task, scope)
            if self.advance(child) not in m.FINAL:
                done = False
        if not done:
            if self.chaining.jobs:  # tasks behind running ones may be launched now
                chain.ahead_dag(self, node, tmpl, scope)
            return m.RUNNING
        for task in tmpl.steps:
            child = self.get(child_path(node.path, task.name))
            if child and child.phase in (m.FAILED, m.OMITTED) and not task.continue_on_failed:
                self.set_phase(node, m.FAILED, f"task {child.name} {child.phase.lower()}: {child.message}")
                return m.FAILED
        return self._finish_container(node, tmpl, scope)

    def _mark_running(self, node: Node) -> None:
        if node.phase == m.PENDING:
            self.set_phase(node, m.RUNNING)

    def _finish_container(self, node: Node, tmpl: ContainerTemplateSpec, scope: Scope) -> str:
        outputs: dict[str, Any] = {"parameters": {}, "artifacts": {}}
        try:
            for name, out in tmpl.outputs.parameters.items():
                outputs["parameters"][name] = _resolve_or_default(scope, out)
            for name, art in tmpl.outputs.artifacts.items():
                try:
                    outputs["artifacts"][name] = scope.resolve_artifact(art.source)
                except ExpressionError:
                    if not art.optional:
                        raise
                    outputs["artifacts"][name] = None
        except ExpressionError as exc:
            node.outputs = outputs
            self.set_phase(node, m.FAILED, f"{node.name}: cannot compute outputs: {exc}")
            return m.FAILED
        node.outputs = outputs
        self.set_phase(node, m.SUCCEEDED)
        return m.SUCCEEDED

    # -------------------------------------------------------------------- fan-outs

    def _advance_fanout(self, node: Node) -> str:
        kids = [self.nodes[p] for p in self.children.get(node.path, [])]
        # A unit whose attempt is in flight cannot change here: its phase, without the call
        # (100,000 slices are walked every tick).
        phases = [k.phase if _in_flight(k) else self.advance(k) for k in kids]
        if any(p not in m.FINAL for p in phases):
            return m.RUNNING
        step = self.step_spec(node)
        ok_kids = [k for k in kids if k.phase == m.SUCCEEDED]
        n, ok = len(kids), len(ok_kids)
        node.outputs = stack_outputs(ok_kids, self.templates[node.template or ""])
        node.data["succeeded"], node.data["total"] = ok, n
        threshold_met = (
            ok == n
            or (step is not None and step.continue_on_num_success is not None
                and ok >= step.continue_on_num_success)
            or (step is not None and step.continue_on_success_ratio is not None and n
                and ok / n >= step.continue_on_success_ratio)
        )
        if threshold_met:
            self.set_phase(node, m.SUCCEEDED, f"{ok} of {n} succeeded" if ok < n else None)
            return m.SUCCEEDED
        first = next(k for k in kids if k.phase != m.SUCCEEDED)
        self.set_phase(node, m.FAILED, f"{n - ok} of {n} failed; {first.name}: {first.message}")
        return m.FAILED

    # ----------------------------------------------------------------- instantiation

    def instantiate(self, parent: Node, step: StepSpec, scope: Scope) -> Node:
        """Create the node(s) for ``step`` now that it is ready to run."""
        path = child_path(parent.path, step.name)
        tmpl = self.templates[step.template]
        base: dict[str, Any] = dict(path=path, parent=parent.path, name=step.name, template=step.template)
        try:
            if step.when and not scope.condition(step.when):
                node = Node(**base, type=_type_of(tmpl), phase=m.SKIPPED,
                            message=f"when {step.when!r} is false")
                node.finished_at = node.created_at
                return self.add(node)
            items = self._items(step, scope)
            # Python OPs and super-OPs (Steps / DAG templates) can be sliced, as in Dflow.
            slices = step.slices if tmpl.kind in ("python", "steps", "dag") else None
            static = self._resolve_inputs(step, tmpl, scope, only_static=True)
            if slices and items is None:
                items = list(range(slice_width(slices, static)))
            if items is None:
                inputs = self._resolve_inputs(step, tmpl, scope, only_static=False, static=static)
                return self._make_instance(base, step, tmpl, scope, inputs, None, None)
            fan = Node(**base, type=m.FANOUT, phase=m.RUNNING, data={"step": [parent.template, step.name]})
            key_uses_item = _uses_item(step.key)
            if step.key is not None and not key_uses_item:
                fan.key = _text(scope.resolve(step.key))
            self.add(fan)
            item_step = step if key_uses_item else frozen.replace(step, key=None)  # once, not per item
            step_ref = [parent.template, step.name]  # one list for all items (never changed)
            # Slices cut at their item from item-independent inputs share the fan-out's.
            source = (SliceSource(static, slices, items) if slices is not None
                      and SliceSource.applies(slices, _any_item_input(step, tmpl)) else None)
            for i, item in enumerate(items):
                item_scope = scope.with_item(item)
                item_inputs = source if source is not None else \
                    self._item_inputs(step, tmpl, item_scope, slices, static)
                name = f"{step.name}({i})"  # a top-level step's path is its name: one string
                child: dict[str, Any] = dict(path=name if path == step.name else f"{path}({i})",
                                             parent=path, name=name, template=step.template)
                self._make_instance(child, item_step, tmpl, item_scope, item_inputs, item, i, step_ref)
            return fan
        except ExpressionError as exc:
            node = self.nodes.get(path) or self.add(Node(**base, type=_type_of(tmpl)))
            self.set_phase(node, m.FAILED, f"step {step.name}: {exc}")
            return node

    def _item_inputs(self, step: StepSpec, tmpl: TemplateSpec, item_scope: Scope,
                     slices: SlicesSpec | None, static: dict[str, Any]) -> dict[str, Any]:
        """One item's inputs, resolved and (for slices) cut, held by its node."""
        inputs = self._resolve_inputs(step, tmpl, item_scope, only_static=False, static=static)
        return take_slice(inputs, slices, item_scope.resolve(slices.slices)) if slices else inputs

    def _make_instance(self, base: dict[str, Any], step: StepSpec, tmpl: TemplateSpec,
                       scope: Scope, inputs: dict[str, Any] | SliceSource, item: Any,
                       index: int | None, step_ref: list[Any] | None = None) -> Node:
        node = Node(**base, type=_type_of(tmpl), item=item, slice_index=index, inputs_held=inputs,
                    data={"step": step_ref or [scope.node.template, step.name]})
        if step.key is not None:
            node.key = _text(scope.resolve(step.key))
            reused = self.reuse.get(node.key)
            if reused is not None:
                node.outputs = reused.get("outputs") or {"parameters": {}, "artifacts": {}}
                node.data["reused"] = True
                node.phase = m.SUCCEEDED
                node.message = "reused"
                node.finished_at = node.created_at
                self.add(node)
                self.events.append((node.path, "reused", f"{node.name}: reused key {node.key}"))
                return node
        return self.add(node)

    def _items(self, step: StepSpec, scope: Scope) -> list[Any] | None:
        for field, given in (("with_param", step.with_param), ("with_sequence", step.with_sequence)):
            if given is not None:
                value = scope.resolve(given)
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError as exc:
                        raise ExpressionError(f"{field} is not a JSON list: {value!r:.80}") from exc
                if not isinstance(value, list):
                    raise ExpressionError(f"{field} must be a list, got {type(value).__name__}")
                return value
        return None

    def _resolve_inputs(self, step: StepSpec, tmpl: TemplateSpec, scope: Scope,
                        only_static: bool, static: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resolve a step's arguments; item-independent ones once (``only_static``)."""
        out: dict[str, Any] = {"parameters": {}, "artifacts": {}}
        declared: dict[str, dict[str, Value | None]] = {
            "parameters": {k: d.default for k, d in tmpl.inputs.parameters.items()},
            "artifacts": {k: None for k in tmpl.inputs.artifacts},
        }
        for section, given in (("parameters", step.parameters), ("artifacts", step.artifacts)):
            for k, default in declared[section].items():
                vspec = given.get(k, default)
                if vspec is None:
                    continue
                dynamic = _uses_item(vspec)
                if only_static and dynamic:
                    continue
                if static is not None and not dynamic and k in static[section]:
                    out[section][k] = static[section][k]
                elif section == "artifacts":
                    out[section][k] = scope.resolve_artifact(vspec)
                else:
                    out[section][k] = scope.resolve(vspec)
        return out

    # --------------------------------------------------------------- unit outcomes

    def complete_unit(self, node: Node, outputs: dict[str, Any]) -> None:
        tmpl = self.op_template(node)
        params = dict(outputs.get("parameters") or {})
        for name, decl in tmpl.outputs.parameters.items():
            if name not in params and decl.default is not None:
                params[name] = self._scope(node).resolve(decl.default)
        node.outputs = {"parameters": params, "artifacts": outputs.get("artifacts") or {}}
        if outputs.get("hashes"):
            node.outputs["hashes"] = outputs["hashes"]  # checked by the steps that read them
            self.hashes.add(node)
        self.set_phase(node, m.SUCCEEDED)

    def fail_unit(self, node: Node, kind: ErrorKind | str, message: str, host: str | None = None) -> bool:
        """Record a failed attempt; return True when the unit will be retried."""
        kind = ErrorKind(kind)
        node.data["last_error_kind"] = kind.value
        if host and kind == ErrorKind.SYSTEM:  # the node, not the OP, failed: remember where
            failures = node.data.setdefault("failed_hosts", {})
            failures[host] = failures.get(host, 0) + 1
        decision = decide(kind, node.counters, self.op_template(node).retry)
        node.retries, node.system_retries = decision.counters.retries, decision.counters.system_retries
        if decision.verdict == Verdict.RETRY:
            self.set_phase(node, m.PENDING, f"{decision.reason}: {message}")
            return True
        node.outputs = {"parameters": {}, "artifacts": {}}
        self.set_phase(node, m.FAILED, message)
        return False


#: A compute node on which a unit's jobs died this many times is excluded from its retries.
EXCLUDE_AFTER = 2


def excluded_hosts(node: Node) -> list[str]:
    return sorted(h for h, n in (node.data.get("failed_hosts") or {}).items() if n >= EXCLUDE_AFTER)


def _resolve_or_default(scope: Scope, out: OutputParameterSpec) -> Any:
    try:
        return scope.resolve(out.source) if out.source is not None else scope.resolve(out.default)
    except ExpressionError:
        if out.default is not None:
            return scope.resolve(out.default)
        raise


#: Answers of ``_uses_item`` by value object (asked once per input of every slice).
_USES_ITEM: dict[int, tuple[Value, bool]] = {}


def _uses_item(vspec: Value | None) -> bool:
    if vspec is None:
        return False
    hit = _USES_ITEM.get(id(vspec))
    if hit is not None and hit[0] is vspec:
        return hit[1]
    try:
        answer = any(r[0] == "item" for r in value_refs(vspec))
    except ExpressionError:
        answer = False
    if len(_USES_ITEM) > 4096:
        _USES_ITEM.clear()
    _USES_ITEM[id(vspec)] = (vspec, answer)  # the object is kept, so its id stays its own
    return answer


def _in_flight(node: Node) -> bool:
    """A running unit :meth:`WorkflowRun.advance` would leave as it is."""
    return (node.phase is m.RUNNING and node.type is m.POD and node.started_at is not None
            and "deferred" not in node.data)


def _any_item_input(step: StepSpec, tmpl: TemplateSpec) -> bool:
    """Whether any input the step gives (or its template defaults) depends on ``{{item}}``."""
    defaults = {k: d.default for k, d in tmpl.inputs.parameters.items()}
    return any(_uses_item(step.parameters.get(k, default)) for k, default in defaults.items()) \
        or any(_uses_item(step.artifacts.get(k)) for k in tmpl.inputs.artifacts)


def _text(value: Any) -> str:
    from hpcflow.spec.evaluate import to_text

    return to_text(value)


def _type_of(tmpl: TemplateSpec) -> NodeType:
    return {"steps": m.STEPS, "dag": m.DAG}.get(tmpl.kind, m.POD)


def _base_name(name: str) -> str:
    return name.split("(", 1)[0]


def _steps_of(tmpl: TemplateSpec) -> tuple[StepSpec, ...]:
    return tmpl.steps if isinstance(tmpl, ContainerTemplateSpec) else ()
