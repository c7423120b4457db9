"""References and expressions: how one step's value points at another's.

Every reference renders two ways, as in Dflow/Argo: ``str(ref)`` is a ``{{...}}``
placeholder (so ``"iter-%s" % ref`` works), and ``ref.expr()`` is the same reference in
hpcflow's expression language (``steps['a'].outputs.parameters['x']``) for composing
expressions such as ``argo_len(ref)`` or ``ref > 3``. Nothing here evaluates anything:
the engine's evaluator does that, never Python's ``eval``.
"""

from __future__ import annotations

import json
from typing import Any


def _quote(name: str) -> str:
    return json.dumps(name).replace('"', "'") if "'" not in name else json.dumps(name)


def to_expr(value: Any) -> str:
    """Render a Python value or a reference as an expression-language fragment."""
    if isinstance(value, Ref):
        return value.expr()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if value.startswith("{{=") and value.endswith("}}"):
            return "(" + value[3:-2] + ")"
        if value.startswith("{{") and value.endswith("}}") and value.count("{{") == 1:
            return path_to_expr(value[2:-2].strip())
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_expr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_expr(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot use {type(value).__name__} in an expression")


def path_to_expr(path: str) -> str:
    """``steps.a-b.outputs.parameters.x`` → ``steps['a-b'].outputs.parameters['x']``."""
    parts = path.split(".")
    if parts[0] in ("steps", "tasks") and len(parts) >= 2:
        head = f"{parts[0]}[{_quote(parts[1])}]"
        rest = parts[2:]
    else:
        head, rest = parts[0], parts[1:]
    out = head
    for i, part in enumerate(rest):
        if i > 0 and rest[i - 1] in ("parameters", "artifacts"):
            out += f"[{_quote(part)}]"
        else:
            out += f".{part}"
    return out


class Ref:
    """Base of every reference/expression object; supports Dflow's operator sugar."""

    def expr(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return "{{=" + self.expr() + "}}"

    def __format__(self, spec: str) -> str:
        return str(self)

    def _binary(self, op: str, other: Any, reverse: bool = False) -> Expr:
        left, right = (to_expr(other), self.expr()) if reverse else (self.expr(), to_expr(other))
        return Expr(f"({left} {op} {right})")

    def __add__(self, o: Any) -> Expr:
        return self._binary("+", o)

    def __radd__(self, o: Any) -> Expr:
        return self._binary("+", o, True)

    def __sub__(self, o: Any) -> Expr:
        return self._binary("-", o)

    def __rsub__(self, o: Any) -> Expr:
        return self._binary("-", o, True)

    def __mul__(self, o: Any) -> Expr:
        return self._binary("*", o)

    def __rmul__(self, o: Any) -> Expr:
        return self._binary("*", o, True)

    def __truediv__(self, o: Any) -> Expr:
        return self._binary("/", o)

    def __mod__(self, o: Any) -> Expr:
        return self._binary("%", o)

    def __lt__(self, o: Any) -> Expr:
        return self._binary("<", o)

    def __le__(self, o: Any) -> Expr:
        return self._binary("<=", o)

    def __gt__(self, o: Any) -> Expr:
        return self._binary(">", o)

    def __ge__(self, o: Any) -> Expr:
        return self._binary(">=", o)

    def __getitem__(self, key: Any) -> Expr:
        return Expr(f"{self.expr()}[{to_expr(key)}]")

    __hash__ = object.__hash__


class Expr(Ref):
    """An expression in hpcflow's expression language; renders as ``{{=...}}``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def expr(self) -> str:
        return self.text

    def __eq__(self, o: Any) -> Expr:  # type: ignore[override]  # builds an expression, as in Dflow
        return self._binary("==", o)

    def __ne__(self, o: Any) -> Expr:  # type: ignore[override]  # builds an expression, as in Dflow
        return self._binary("!=", o)

    def __and__(self, o: Any) -> Expr:
        return self._binary("&&", o)

    def __or__(self, o: Any) -> Expr:
        return self._binary("||", o)

    def __invert__(self) -> Expr:
        return Expr(f"!({self.text})")

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    __hash__ = object.__hash__


class PathRef(Ref):
    """A reference by dotted path, e.g. ``inputs.parameters.x`` or ``steps.a.outputs.artifacts.y``."""

    def __init__(self, ref_path: str) -> None:
        self._ref_path = ref_path

    @property
    def ref_path(self) -> str:
        """The dotted reference path (``path`` is left free: Dflow's artifacts use it for
        where a script reads or writes the file)."""
        return self._ref_path

    def expr(self) -> str:
        return path_to_expr(self.ref_path)

    def __str__(self) -> str:
        return "{{" + self.ref_path + "}}"

    def __repr__(self) -> str:
        return f"<ref {self.ref_path}>"


# --------------------------------------------------------------------------- Dflow helpers


def argo_range(*args: Any) -> Expr:
    """Like Python's ``range`` (``argo_range(n)``, ``argo_range(start, stop, step)``) as a list."""
    if len(args) == 1:
        start, stop, step = 0, args[0], 1
    elif len(args) == 2:
        (start, stop), step = args, 1
    elif len(args) == 3:
        start, stop, step = args
    else:
        raise TypeError("argo_range takes 1 to 3 arguments")
    return Expr(f"range({to_expr(start)}, {to_expr(stop)}, {to_expr(step)})")


def argo_len(param: Any) -> Expr:
    """The length of a list parameter or list artifact."""
    return Expr(f"len({to_expr(param)})")


def argo_sequence(
    count: Any = None, start: Any = None, end: Any = None, format: str | None = None
) -> Expr:
    """Argo's ``withSequence``: ``count`` numbers from ``start``, or ``start..end`` inclusive."""
    args = [to_expr(count), to_expr(start), to_expr(end), to_expr(format)]
    return Expr(f"sequence({', '.join(args)})")


def argo_sum(param: Any) -> Expr:
    """The sum of a list parameter."""
    return Expr(f"sum({to_expr(param)})")


def argo_concat(param: Any) -> Expr:
    """A list of lists (a sliced step's stacked list outputs) joined into one list."""
    return Expr(f"concat({to_expr(param)})")


def argo_enumerate(*args: Any, **kwargs: Any) -> Expr:
    """Zip lists into a list of dicts with an ``order`` field: ``{{item.order}}``, ``{{item.x}}``."""
    named = dict(kwargs)
    for i, a in enumerate(args):
        named[f"_{i}"] = a
    inner = ", ".join(f"{json.dumps(k)}: {to_expr(v)}" for k, v in named.items())
    return Expr(f"enumerate({{{inner}}})")


def if_expression(_if: Any, _then: Any, _else: Any) -> Expr:
    """A conditional value: ``_then`` when ``_if`` holds, else ``_else`` (parameters or artifacts)."""
    cond = _if.expr() if isinstance(_if, Ref) else _cond_expr(_if)
    return Expr(f"({cond} ? {to_expr(_then)} : {to_expr(_else)})")


def _cond_expr(text: Any) -> str:
    """A condition given as a string with ``{{...}}`` placeholders (Dflow style), rewritten
    as one expression: each placeholder becomes the reference it names."""
    if isinstance(text, bool):
        return "true" if text else "false"
    if not isinstance(text, str):
        raise TypeError(f"if_expression: _if must be an expression or a string, not {text!r}")
    from hpcflow.spec.expr import PLACEHOLDER  # the parser: a job importing OPs never needs it

    return "(" + PLACEHOLDER.sub(lambda m: _placeholder_expr(m.group(1)), text) + ")"




def _placeholder_expr(inner: str) -> str:
    inner = inner.strip()
    return f"({inner[1:]})" if inner.startswith("=") else path_to_expr(inner)
