"""Slices as data: each slice's part of the inputs, the fan-out's width, stacked outputs."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hpcflow import codec
from hpcflow.engine.model import Node
from hpcflow.errors import ExpressionError
from hpcflow.spec.model import SlicesSpec, TemplateSpec, TemplateValue
from hpcflow.store.rawjson import RawJson


def stack_outputs(kids: list[Node], tmpl: TemplateSpec) -> dict[str, Any]:
    """Outputs of the successful children, in order: parameters as lists, artifacts merged
    into one list artifact."""
    params = {name: [(k.outputs or {}).get("parameters", {}).get(name) for k in kids]
              for name in tmpl.outputs.parameters}
    arts: dict[str, Any] = {}
    for name in tmpl.outputs.artifacts:
        stacked: list[Any] = []
        for k in kids:
            value = (k.outputs or {}).get("artifacts", {}).get(name)
            if value is None:
                continue
            stacked.extend(value if isinstance(value, list) else [value])
        arts[name] = stacked
    return {"parameters": params, "artifacts": arts}


def take_slice(inputs: dict[str, Any], slices: SlicesSpec, index: Any) -> dict[str, Any]:
    """The inputs of one slice: element ``index`` (or elements, for a list) of each sliced input."""
    out = {"parameters": dict(inputs["parameters"]), "artifacts": dict(inputs["artifacts"])}
    for section, name, full in _sliced(out, slices):
        out[section][name] = _cut(name, full, index)
    return out


def _sliced(inputs: dict[str, Any], slices: SlicesSpec) -> list[tuple[str, str, list[Any]]]:
    """The sliced inputs present in ``inputs`` as lists (a parameter given as JSON text is
    decoded); an optional artifact left unset is not cut (every slice gets None)."""
    out = []
    for section, names in (("parameters", slices.input_parameter), ("artifacts", slices.input_artifact)):
        for name in names:
            if name not in inputs[section]:
                continue
            full = inputs[section][name]
            if full is None and section == "artifacts":
                continue
            if isinstance(full, str) and section == "parameters":
                full = _json_list(name, full)
            if not isinstance(full, list):
                raise ExpressionError(f"sliced input {name!r} is not a list (got {type(full).__name__})")
            out.append((section, name, full))
    return out


def _cut(name: str, full: list[Any], index: Any) -> Any:
    try:
        return [full[int(i)] for i in index] if isinstance(index, list) else full[int(index)]
    except (IndexError, ValueError, TypeError) as exc:
        raise ExpressionError(f"slice {index!r} of input {name!r} (length {len(full)}): {exc}") from exc


class SliceSource:
    """The inputs of a fan-out's slices, derived when asked instead of held by each slice.

    Used when every input of the step is item-independent (resolved once for the fan-out)
    and each slice is cut at its own item (``Slices("{{item}}")``): slice ``node`` then has
    ``take_slice(static, slices, node.item)``, which is what instantiating it computed
    before. One object per fan-out; each slice holds a reference to it (8 bytes instead of
    ~400 for its own nested dicts)."""

    __slots__ = ("static", "slices", "_names", "_parts")

    def __init__(self, static: dict[str, Any], slices: SlicesSpec, items: list[Any]) -> None:
        """Checks every item's slice now (a bad index fails the step when it is
        instantiated, as it did when each slice's inputs were cut then)."""
        self.slices = slices
        self.static = {"parameters": dict(static["parameters"]), "artifacts": dict(static["artifacts"])}
        cut = _sliced(self.static, slices)
        for section, name, full in cut:  # decoded once, not at every read
            self.static[section][name] = full
        for item in items:
            for _, name, full in cut:
                _cut(name, full, item)
        self._names = cut
        self._parts = _json_around(self.static, self._names)

    @staticmethod
    def applies(slices: SlicesSpec, any_item_input: bool) -> bool:
        """Whether a step's slices can derive their inputs (no input depends on the item,
        and the slice index is the item itself)."""
        return (not any_item_input
                and isinstance(slices.slices, TemplateValue) and slices.slices.text == "{{item}}")

    def inputs_of(self, node: Node) -> dict[str, Any]:
        return take_slice(self.static, self.slices, node.item)

    def json_of(self, node: Node) -> RawJson:
        """``json.dumps(self.inputs_of(node))``, from the JSON of the shared part made once:
        only the cut values are encoded per slice."""
        parts, out = self._parts, [self._parts[0]]
        for i, (_, name, full) in enumerate(self._names):
            out.append(json.dumps(_cut(name, full, node.item)))
            out.append(parts[i + 1])
        return RawJson("".join(out))


def _json_around(static: dict[str, Any], cut: list[tuple[str, str, list[Any]]]) -> list[str]:
    """The JSON text of ``static`` split around the cut inputs' values, so that a slice's
    JSON is the parts joined with its own values (encoded as ``json.dumps`` would)."""
    marks = [f"hpcflow-slice-{uuid.uuid4().hex}-{i}" for i in range(len(cut))]
    marked = {"parameters": dict(static["parameters"]), "artifacts": dict(static["artifacts"])}
    for mark, (section, name, _) in zip(marks, cut, strict=True):
        marked[section][name] = mark
    text, parts = json.dumps(marked), []
    for mark in marks:
        before, text = text.split(json.dumps(mark), 1)
        parts.append(before)
    parts.append(text)
    return parts


def slice_width(slices: SlicesSpec, static: dict[str, Any]) -> int:
    """Without ``with_param``, a fan-out is as wide as its first sliced list input."""
    for section, names in (("parameters", slices.input_parameter), ("artifacts", slices.input_artifact)):
        for name in names:
            value = static[section].get(name)
            if isinstance(value, str) and section == "parameters":
                value = _json_list(name, value)
            if isinstance(value, list):
                return len(value)
    raise ExpressionError("Slices: cannot infer the number of slices (no list input and no with_param)")


def _json_list(name: str, text: str) -> object:
    """A sliced parameter given as text (Argo style) must be a JSON list."""
    try:
        return codec.loads(text)
    except ValueError as exc:
        raise ExpressionError(f"sliced input {name!r} is not a list: {text[:60]!r}") from exc
