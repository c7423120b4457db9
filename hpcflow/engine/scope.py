"""Resolve references (``inputs.parameters.x``, ``steps.a.outputs...``, ``item``) in one scope."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hpcflow.engine.model import FAILED, SKIPPED, SUCCEEDED, Node, child_path
from hpcflow.errors import ExpressionError
from hpcflow.spec.evaluate import Evaluator, evaluate_condition

_NO_ITEM = object()


class Scope:
    """What a step inside container ``node`` can see."""

    def __init__(self, node: Node, get_node: Callable[[str], Node | None],
                 workflow_parameters: dict[str, Any], item: Any = _NO_ITEM) -> None:
        self.node = node
        self.get_node = get_node
        self.workflow_parameters = workflow_parameters
        self.item = item

    def with_item(self, item: Any) -> Scope:
        return Scope(self.node, self.get_node, self.workflow_parameters, item)

    def lookup(self, parts: Sequence[str]) -> Any:
        root = parts[0]
        if root == "item":
            if self.item is _NO_ITEM:
                raise ExpressionError("{{item}} is used outside with_param / with_sequence / slices")
            return self.item
        if root == "inputs":
            section = (self.node.inputs or {}).get(parts[1], {})
            if parts[2] not in section and parts[1] == "artifacts":
                return None  # an optional input artifact left unset (the spec checked the rest)
            if parts[2] not in section:
                raise ExpressionError(f"{'.'.join(parts)} has no value")
            return section[parts[2]]
        if root == "workflow":
            if parts[2] not in self.workflow_parameters:
                raise ExpressionError(f"workflow parameter {parts[2]!r} is not defined")
            return self.workflow_parameters[parts[2]]
        if root in ("steps", "tasks"):
            return self._sibling_output(parts)
        raise ExpressionError(f"unknown reference {'.'.join(parts)}")

    def _sibling_output(self, parts: Sequence[str]) -> Any:
        name = parts[1]
        sib = self.get_node(child_path(self.node.path, name))
        if sib is None:
            raise ExpressionError(f"step {name!r} has not run")
        if parts[2] == "outputs":
            if sib.phase == SKIPPED:
                raise ExpressionError(f"step {name!r} was skipped and has no outputs")
            if sib.phase not in (SUCCEEDED, FAILED) or sib.outputs is None:
                raise ExpressionError(f"step {name!r} has no outputs ({sib.phase})")
            section = sib.outputs.get(parts[3], {})
            if parts[4] not in section:
                raise ExpressionError(f"step {name!r} has no output {parts[3][:-1]} {parts[4]!r}")
            return section[parts[4]]
        if parts[2] in ("status", "phase"):
            return sib.phase
        raise ExpressionError(f"unknown reference {'.'.join(parts)}")

    # -------------------------------------------------------------------- value specs

    def resolve(self, vspec: Any) -> Any:
        """Turn a compiled value spec into a value in this scope."""
        if vspec is None:
            return None
        if "v" in vspec:
            return vspec["v"]
        if "t" in vspec:
            return Evaluator(self.lookup).render(vspec["t"])
        if "l" in vspec:
            out: list[Any] = []
            for v in vspec["l"]:
                out.append(self.resolve(v))
            return out
        if "d" in vspec:
            return {k: self.resolve(v) for k, v in vspec["d"].items()}
        if "art" in vspec:
            return vspec["art"]
        raise ExpressionError(f"malformed value spec {vspec!r}")

    def resolve_artifact(self, vspec: Any) -> Any:
        """Artifacts may be given as a list of references: flatten into one list artifact."""
        if vspec is not None and "l" in vspec:
            out: list[Any] = []
            for v in vspec["l"]:
                value = self.resolve_artifact(v)
                out.extend(value if isinstance(value, list) else [value])
            return out
        return self.resolve(vspec)

    def condition(self, text: str) -> bool:
        return evaluate_condition(text, self.lookup)
