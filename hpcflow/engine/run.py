"""One workflow's interpretation: instantiate steps, advance Steps/DAG/fan-outs, stack outputs.

``WorkflowRun.advance()`` is idempotent: it walks the node tree from the root, creates the
nodes that became ready, and derives container phases from their children. Units (Pods)
that need an attempt are collected in ``launches``; the engine starts them.
"""

from __future__ import annotations

from typing import Any

from hpcflow.engine import chain
from hpcflow.engine import model as m
from hpcflow.engine.chain import ChainOptions
from hpcflow.engine.hashes import HashIndex
from hpcflow.engine.instantiate import Instantiation, type_of
from hpcflow.engine.job_env import LaunchRecord
from hpcflow.engine.model import Node, child_path
from hpcflow.engine.retry import Verdict, decide
from hpcflow.engine.scope import Scope
from hpcflow.engine.slicing import stack_outputs
from hpcflow.errors import ExpressionError
from hpcflow.spec.model import (
    ContainerTemplateSpec,
    OPTemplateSpec,
    OutputParameterSpec,
    StepSpec,
    TemplateSpec,
    WorkflowSpec,
)
from hpcflow.states import ErrorKind, Phase

OP_KINDS = ("python", "shell", "script")


class WorkflowRun(Instantiation):
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
            root = Node("", None, self.id, entry, type_of(self.templates[entry]))
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
                                          type_of(self.templates[task.template]),
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


def _in_flight(node: Node) -> bool:
    """A running unit :meth:`WorkflowRun.advance` would leave as it is."""
    return (node.phase is m.RUNNING and node.type is m.POD and node.started_at is not None
            and "deferred" not in node.data)


def _base_name(name: str) -> str:
    return name.split("(", 1)[0]


def _steps_of(tmpl: TemplateSpec) -> tuple[StepSpec, ...]:
    return tmpl.steps if isinstance(tmpl, ContainerTemplateSpec) else ()
