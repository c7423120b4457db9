"""How a ready step becomes nodes: skipped by ``when``, one node, or a fan-out of items or slices.

A mixin of :class:`~hpcflow.engine.run.WorkflowRun` (which holds the node tree and calls
:meth:`Instantiation.instantiate` while it advances): resolving a step's inputs in its
scope, cutting slices, applying keys and reuse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hpcflow import frozen
from hpcflow.engine import model as m
from hpcflow.engine.model import Node, child_path
from hpcflow.engine.scope import Scope
from hpcflow.engine.slicing import SliceSource, slice_width, take_slice
from hpcflow.errors import ExpressionError
from hpcflow.spec.model import SlicesSpec, StepSpec, TemplateSpec, Value
from hpcflow.spec.validate import value_refs
from hpcflow.states import NodeType, Phase


class Instantiation:
    """Turning a step into nodes; what it uses of the run is declared here."""

    templates: Mapping[str, TemplateSpec]
    reuse: dict[str, dict[str, Any]]
    nodes: dict[str, Node]
    events: list[tuple[str | None, str, str]]

    def add(self, node: Node) -> Node:
        raise NotImplementedError

    def set_phase(self, node: Node, phase: Phase, message: str | None = None) -> None:
        raise NotImplementedError

    def instantiate(self, parent: Node, step: StepSpec, scope: Scope) -> Node:
        """Create the node(s) for ``step`` now that it is ready to run."""
        path = child_path(parent.path, step.name)
        tmpl = self.templates[step.template]
        base: dict[str, Any] = dict(path=path, parent=parent.path, name=step.name, template=step.template)
        try:
            if step.when and not scope.condition(step.when):
                node = Node(**base, type=type_of(tmpl), phase=m.SKIPPED,
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
            node = self.nodes.get(path) or self.add(Node(**base, type=type_of(tmpl)))
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
        node = Node(**base, type=type_of(tmpl), item=item, slice_index=index, inputs_held=inputs,
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


def _any_item_input(step: StepSpec, tmpl: TemplateSpec) -> bool:
    """Whether any input the step gives (or its template defaults) depends on ``{{item}}``."""
    defaults = {k: d.default for k, d in tmpl.inputs.parameters.items()}
    return any(_uses_item(step.parameters.get(k, default)) for k, default in defaults.items()) \
        or any(_uses_item(step.artifacts.get(k)) for k in tmpl.inputs.artifacts)


def _text(value: Any) -> str:
    from hpcflow.spec.evaluate import to_text

    return to_text(value)


def type_of(tmpl: TemplateSpec) -> NodeType:
    return {"steps": m.STEPS, "dag": m.DAG}.get(tmpl.kind, m.POD)
