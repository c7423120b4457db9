"""Evaluate parsed expressions and render ``{{...}}`` templates against a scope."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

from hpcflow.errors import ExpressionError
from hpcflow.spec.expr import (
    PLACEHOLDER,
    ROOT_LENGTHS,
    Expr,
    parse,
    parse_placeholder,
    static_path,
)

Lookup = Callable[[Sequence[str]], Any]


def _num(v: Any) -> Any:
    """Argo passes strings; accept numeric strings where numbers are compared or added."""
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v
    return v


def _coerce_pair(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, bool) and isinstance(b, str):
        return a, b.strip().lower() == "true" if b.strip().lower() in ("true", "false") else b
    if isinstance(b, bool) and isinstance(a, str):
        return (a.strip().lower() == "true" if a.strip().lower() in ("true", "false") else a), b
    if isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, str):
        return a, _num(b)
    if isinstance(b, (int, float)) and not isinstance(b, bool) and isinstance(a, str):
        return _num(a), b
    return a, b


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() not in ("", "false", "0", "null", "none")
    return bool(v)


#: Most items range()/sequence() may make: a fan-out wider than this is a typo, and
#: building it would stall the engine's tick.
MAX_ITEMS = 1_000_000
#: Largest integer arithmetic may produce (about 400 digits, far beyond any float).
_MAX_INT_BITS = 1400


def _from_json(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError as exc:
        raise ExpressionError(f"{_show(v)} is not JSON: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"{_show(v)} is JSON nested too deeply") from None


def _show(value: Any) -> str:
    """A value in a message: its repr, shortened (a message is one readable line)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _items(values: range) -> list[int]:
    if len(values) > MAX_ITEMS:
        raise ExpressionError(f"{len(values)} items is more than the {MAX_ITEMS} a fan-out may have")
    return list(values)


def _range(a: Any, b: Any = None, c: Any = 1) -> list[int]:
    if b is None:
        return _items(range(int(_num(a))))
    return _items(range(int(_num(a)), int(_num(b)), int(_num(c))))


def _format(fmt: str, value: int) -> str:
    if re.search(r"%[-+ #0]*(\*|\d{4,}|\.(\*|\d{4,}))", fmt):
        raise ExpressionError(f"sequence format {_show(fmt)} asks for a width of 1000 or more")
    return fmt % value


def _sequence(count: Any, start: Any, end: Any, fmt: Any) -> list[Any]:
    start = int(_num(start)) if start not in (None, "") else 0
    if count not in (None, ""):
        values = _items(range(start, start + int(_num(count))))
    elif end not in (None, ""):
        end = int(_num(end))
        values = _items(range(start, end + 1) if end >= start else range(start, end - 1, -1))
    else:
        raise ExpressionError("argo_sequence needs count or end")
    return [_format(fmt, v) for v in values] if fmt else values


def _enumerate(named: dict[str, Any]) -> list[dict[str, Any]]:
    lists = {k: _from_json(v) for k, v in named.items()}
    lengths = {len(v) for v in lists.values()}
    if len(lengths) > 1:
        raise ExpressionError(f"argo_enumerate: lists of different lengths {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    return [{"order": i, **{k: v[i] for k, v in lists.items()}} for i in range(n)]


def _sub_path(artifact: Any, sub: str) -> Any:
    if isinstance(artifact, str):  # plain joining keeps "s3://" intact
        return artifact.rstrip("/") + "/" + str(PurePosixPath(sub)).lstrip("/")
    raise ExpressionError(f"sub_path {sub!r} needs a single-path artifact, got {type(artifact).__name__}")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": lambda v: len(_from_json(v)),
    "range": _range,
    "untilStep": lambda a, b, c: _range(a, b, c),
    "sequence": _sequence,
    "enumerate": _enumerate,
    "toJson": lambda v: json.dumps(v),
    "fromJson": _from_json,
    "asInt": lambda v: int(_num(v)),
    "int": lambda v: int(_num(v)),
    "asFloat": lambda v: float(_num(v)),
    "float": lambda v: float(_num(v)),
    "string": lambda v: v if isinstance(v, str) else json.dumps(v),
    "str": lambda v: v if isinstance(v, str) else json.dumps(v),
    "min": lambda *a: min(a[0] if len(a) == 1 else a),
    "max": lambda *a: max(a[0] if len(a) == 1 else a),
    "sum": lambda v: sum(_num(x) for x in _from_json(v)),
    "concat": lambda v: [x for part in _from_json(v) for x in _from_json(part)],
    "abs": lambda v: abs(_num(v)),
    "ceil": lambda v: math.ceil(_num(v)),
    "floor": lambda v: math.floor(_num(v)),
    "subPath": _sub_path,
}


def _number(v: Any) -> int | float:
    """An arithmetic operand: a number or a numeric string (never Python's ``"ab" * 3`` or
    ``"%d" % x``, which can build strings of any size from a short expression)."""
    n = _num(v)
    if not isinstance(n, (int, float)):
        raise TypeError(f"{_show(v)} is not a number")
    return n


def _plus(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b  # concatenation, as in Argo's expressions
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    return _number(a) + _number(b)


_ARITHMETIC = frozenset("+-*/%")
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _plus,
    "-": lambda a, b: _number(a) - _number(b),
    "*": lambda a, b: _number(a) * _number(b),
    "/": lambda a, b: _number(a) / _number(b),
    "%": lambda a, b: _number(a) % _number(b),
    "==": lambda a, b: (lambda x, y: x == y)(*_coerce_pair(a, b)),
    "!=": lambda a, b: (lambda x, y: x != y)(*_coerce_pair(a, b)),
    "<": lambda a, b: _num(a) < _num(b),
    "<=": lambda a, b: _num(a) <= _num(b),
    ">": lambda a, b: _num(a) > _num(b),
    ">=": lambda a, b: _num(a) >= _num(b),
    "in": lambda a, b: a in _from_json(b),
}


class Evaluator:
    """Evaluates expressions in one scope (``lookup`` resolves references)."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup

    def eval(self, node: Expr) -> Any:
        kind = node[0]
        path = static_path(node)
        if path is not None:
            return self._resolve(path)
        if kind == "lit":
            return node[1]
        if kind == "str":
            return self.render(node[1]) if "{{" in node[1] else node[1]
        if kind == "name":
            raise ExpressionError(
                f"unknown name {node[1]!r} (use inputs.parameters.x, steps['a'].outputs..., item)"
            )
        if kind == "get":
            return _index(self.eval(node[1]), self.eval(node[2]))
        if kind == "call":
            return self._call(node[1], node[2])
        if kind == "bin":
            op = node[1]
            if op == "&&":
                return _truthy(self.eval(node[2])) and _truthy(self.eval(node[3]))
            if op == "||":
                return _truthy(self.eval(node[2])) or _truthy(self.eval(node[3]))
            a, b = self.eval(node[2]), self.eval(node[3])
            try:
                result = _BINARY[op](a, b)
            except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
                raise ExpressionError(f"cannot compute {_show(a)} {op} {_show(b)}: {exc}") from exc
            if op in _ARITHMETIC and isinstance(result, int) and result.bit_length() > _MAX_INT_BITS:
                raise ExpressionError(f"{_show(a)} {op} {_show(b)} is too large a number")
            return result
        if kind == "not":
            return not _truthy(self.eval(node[1]))
        if kind == "neg":
            value = self.eval(node[1])
            try:
                return -_num(value)
            except TypeError as exc:
                raise ExpressionError(f"cannot negate {_show(value)}") from exc
        if kind == "if":
            return self.eval(node[2]) if _truthy(self.eval(node[1])) else self.eval(node[3])
        if kind == "list":
            return [self.eval(n) for n in node[1]]
        if kind == "dict":
            return {str(self.eval(k)): self.eval(v) for k, v in node[1]}
        raise ExpressionError(f"cannot evaluate {node!r}")

    def _resolve(self, path: tuple[str, ...]) -> Any:
        n = ROOT_LENGTHS.get(path[0], len(path))
        if len(path) < n:
            raise ExpressionError(f"incomplete reference {'.'.join(path)}")
        value = self.lookup(path[:n])
        for key in path[n:]:
            value = _index(value, key)
        return value

    def _call(self, name: str, args: list[Expr]) -> Any:
        if name == "cond":  # a condition string with placeholders, as written for ``when``
            if len(args) != 1:
                raise ExpressionError(f"cond takes one argument, got {len(args)}")
            return evaluate_condition(self.eval(args[0]), self.lookup)
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise ExpressionError(f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})")
        values = [self.eval(a) for a in args]
        try:
            return fn(*values)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(f"{name}({', '.join(map(_show, values))}) failed: {exc}") from exc

    def render(self, text: str) -> Any:
        """Render a ``{{...}}`` template: a lone placeholder keeps its type, else a string."""
        matches = list(PLACEHOLDER.finditer(text))
        if len(matches) == 1 and matches[0].span() == (0, len(text)):
            return self.eval(parse_placeholder(matches[0].group(1)))
        out, pos = [], 0
        for m in matches:
            out.append(text[pos : m.start()])
            out.append(to_text(self.eval(parse_placeholder(m.group(1)))))
            pos = m.end()
        out.append(text[pos:])
        return "".join(out)


def _index(value: Any, key: Any) -> Any:
    try:
        value = _from_json(value) if isinstance(value, str) and value[:1] in "[{" else value
        if isinstance(value, list):
            return value[int(_num(key))]
        if isinstance(value, dict) and key not in value:
            return None  # as in Argo (and so Dflow): a missing key of a dict parameter is null
        return value[key]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ExpressionError(f"cannot take [{_show(key)}] of {_show(value)}") from exc


def to_text(value: Any) -> str:
    """How a value appears inside a larger string (Argo's convention: JSON for non-strings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return json.dumps(value)


def evaluate_condition(text: Any, lookup: Lookup) -> bool:
    """Evaluate a ``when`` condition (placeholders are values inside the expression)."""
    if isinstance(text, bool):
        return text
    return _truthy(Evaluator(lookup).eval(parse(str(text))))
