"""Slices as data: each slice's part of the inputs, the fan-out's width, stacked outputs."""

from __future__ import annotations

from typing import Any

from hpcflow import codec
from hpcflow.engine.model import Node
from hpcflow.errors import ExpressionError


def stack_outputs(kids: list[Node], tmpl: dict[str, Any]) -> dict[str, Any]:
    """Outputs of the successful children, in order: parameters as lists, artifacts merged
    into one list artifact."""
    params = {name: [(k.outputs or {}).get("parameters", {}).get(name) for k in kids]
              for name in tmpl["outputs"]["parameters"]}
    arts: dict[str, Any] = {}
    for name in tmpl["outputs"]["artifacts"]:
        stacked: list[Any] = []
        for k in kids:
            value = (k.outputs or {}).get("artifacts", {}).get(name)
            if value is None:
                continue
            stacked.extend(value if isinstance(value, list) else [value])
        arts[name] = stacked
    return {"parameters": params, "artifacts": arts}


def take_slice(inputs: dict[str, Any], slices: dict[str, Any], index: Any) -> dict[str, Any]:
    """The inputs of one slice: element ``index`` (or elements, for a list) of each sliced input."""
    out = {"parameters": dict(inputs["parameters"]), "artifacts": dict(inputs["artifacts"])}
    for section, names in (("parameters", slices["input_parameter"]), ("artifacts", slices["input_artifact"])):
        for name in names:
            if name not in out[section]:
                continue
            full = out[section][name]
            if full is None and section == "artifacts":
                continue  # an optional artifact left unset: every slice gets None
            if isinstance(full, str) and section == "parameters":
                full = _json_list(name, full)
            if not isinstance(full, list):
                raise ExpressionError(f"sliced input {name!r} is not a list (got {type(full).__name__})")
            try:
                out[section][name] = [full[int(i)] for i in index] if isinstance(index, list) else full[int(index)]
            except (IndexError, ValueError, TypeError) as exc:
                raise ExpressionError(f"slice {index!r} of input {name!r} (length {len(full)}): {exc}") from exc
    return out


def slice_width(slices: dict[str, Any], static: dict[str, Any]) -> int:
    """Without ``with_param``, a fan-out is as wide as its first sliced list input."""
    for section, names in (("parameters", slices["input_parameter"]), ("artifacts", slices["input_artifact"])):
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
