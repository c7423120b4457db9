"""A small, safe expression language for ``when``, ``{{=...}}`` and ``{{...}}`` placeholders.

Never Python's ``eval``: text is tokenised, parsed into tuples, and evaluated against a
resolver that knows what ``inputs.parameters.x``, ``steps['a'].outputs.parameters['y']``
and ``item`` mean in the current scope. Syntax is Argo's (govaluate / expr): literals,
``+ - * / %``, comparisons, ``&& || !`` (and ``and or not``), ``c ? a : b``, indexing,
and a few functions (``len``, ``range``, ``toJson``, ``fromJson``, ``asInt``...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, cast

from hpcflow.errors import ExpressionError

#: A parsed expression: a tuple whose first item names its kind ("num", "ref", "call", ...).
Expr = tuple[Any, ...]
Lookup = Callable[[Sequence[str]], Any]

ROOT_LENGTHS = {"steps": 5, "tasks": 5, "inputs": 3, "workflow": 3, "item": 1, "outputs": 3}

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<ph>\{\{.*?\}\})
  | (?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?|\.\d+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>\|\||&&|==|!=|<=|>=|[-+*/%<>!?:()\[\].,{}])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  )""",
    re.VERBOSE | re.DOTALL,
)
#: A ``{{...}}`` placeholder in a template string (the one definition; the DSL uses it too).
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
#: Longest number literal: far beyond any float, short of int()'s 4300-digit limit.
_MAX_NUMBER = 400
#: Deepest expression tree accepted (real ones are a handful of levels deep).
MAX_DEPTH = 64


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot parse {_quote(text)}: unexpected {text[pos:].strip()[:20]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def fail(self, msg: str) -> ExpressionError:
        return ExpressionError(f"cannot parse {_quote(self.text)}: {msg}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end" + (f", expected {value!r}" if value else ""))
        if value is not None and tok[1] != value:
            raise self.fail(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def accept(self, *values: str) -> str | None:
        tok = self.peek()
        if tok and tok[0] in ("op", "name") and tok[1] in values:
            self.i += 1
            return tok[1]
        return None

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.fail("empty expression")
        node = self.ternary()
        extra = self.peek()
        if extra is not None:
            raise self.fail(f"unexpected {extra[1]!r}")
        return node

    def ternary(self) -> Expr:
        cond = self.binary(0)
        if self.accept("?"):
            then = self.ternary()
            self.take(":")
            return ("if", cond, then, self.ternary())
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||", "or"),
        ("&&", "and"),
        ("==", "!=", "<", "<=", ">", ">=", "in"),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Expr:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.accept(*self._LEVELS[level])) is not None:
            op = {"or": "||", "and": "&&"}.get(op, op)
            left = ("bin", op, left, self.binary(level + 1))
        return left

    def unary(self) -> Expr:
        if self.accept("!", "not"):
            return ("not", self.unary())
        if self.accept("-"):
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Expr) -> Expr:
        while True:
            if self.accept("."):
                node = ("get", node, ("lit", self.take()[1]))
            elif self.accept("["):
                node = ("get", node, self.ternary())
                self.take("]")
            elif self.peek() == ("op", "(") and node[0] == "name":
                self.take("(")
                args = self.items(")")
                node = ("call", node[1], args)
            else:
                return node

    def items(self, close: str) -> list[Expr]:
        out: list[Expr] = []
        while not self.accept(close):
            out.append(self.ternary())
            if not self.accept(","):
                self.take(close)
                break
        return out

    def primary(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            if len(value) > _MAX_NUMBER:  # int() refuses thousands of digits anyway
                raise self.fail(f"number {value[:20]}... has more than {_MAX_NUMBER} characters")
            return ("lit", float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "str":
            if value[0] != '"':
                return ("str", value[1:-1].replace("\\'", "'"))
            try:
                return ("str", json.loads(value))
            except json.JSONDecodeError as exc:  # a bad escape or a raw control character
                raise self.fail(f"bad string {value[:30]!r}: {exc.msg}") from None
        if kind == "ph":
            return parse_placeholder(value[2:-2])
        if kind == "name":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value in ("null", "nil", "None"):
                return ("lit", None)
            if value == "sprig" and self.accept("."):  # sprig.fromJson etc. are plain functions
                return ("name", self.take()[1])
            return ("name", value)
        if value == "(":
            node = self.ternary()
            self.take(")")
            return node
        if value == "[":
            return ("list", self.items("]"))
        if value == "{":
            pairs = []
            while not self.accept("}"):
                key = self.ternary()
                self.take(":")
                pairs.append((key, self.ternary()))
                if not self.accept(","):
                    self.take("}")
                    break
            return ("dict", pairs)
        raise self.fail(f"unexpected {value!r}")


def parse(text: str) -> Expr:
    """Parse an expression (raises :class:`ExpressionError` with the text at fault).

    Trees deeper than :data:`MAX_DEPTH` are refused, so evaluating one can never exhaust
    Python's stack (in the engine's tick, where a crash would stop every workflow).
    """
    try:
        tree = _Parser(text).parse()
    except RecursionError:
        tree = None
    if tree is None or _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"cannot parse {_quote(text)}: nested more than {MAX_DEPTH} deep")
    return tree


def _depth(tree: Expr) -> int:
    """Depth of a parsed tree, without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node[1:]:
            items = child if isinstance(child, list) else [child]
            for item in items:
                if _is_node(item):
                    stack.append((item, depth + 1))
                elif isinstance(item, tuple):  # a (key, value) pair of a dict literal
                    stack.extend((part, depth + 1) for part in item if isinstance(part, tuple))
    return deepest


def _quote(text: str, limit: int = 80) -> str:
    """The text at fault, shortened: a message is one readable line."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def parse_placeholder(inner: str) -> Expr:
    """``{{steps.a-b.outputs.parameters.x}}`` → a reference; ``{{=expr}}`` → the expression."""
    inner = inner.strip()
    if inner.startswith("="):
        return parse(inner[1:])
    parts = inner.split(".")
    if parts[0] not in ROOT_LENGTHS:
        raise ExpressionError(f"unknown placeholder {{{{{inner}}}}}")
    return ("ref", tuple(parts))


# ------------------------------------------------------------------------------- analysis


def references(node: Expr) -> list[tuple[str, ...]]:
    """All static references (``steps.a.outputs.parameters.x``...) an expression reads."""
    found: list[tuple[str, ...]] = []

    def walk(n: Any) -> None:
        if not isinstance(n, tuple) or not n:
            return
        path = static_path(n)
        if path is not None:
            found.append(path[: ROOT_LENGTHS.get(path[0], len(path))])
            return
        if n[0] == "str":
            for m in PLACEHOLDER.finditer(n[1]):
                walk(parse_placeholder(m.group(1)))
            return
        for child in n[1:]:
            if isinstance(child, list):
                for c in child:
                    if _is_node(c):
                        walk(c)
                    elif isinstance(c, tuple):  # a (key, value) pair of a dict literal
                        walk(c[0])
                        walk(c[1])
            else:
                walk(child)

    walk(node)
    return found


_KINDS = {"lit", "str", "ref", "name", "get", "call", "bin", "not", "neg", "if", "list", "dict"}


def _is_node(value: Any) -> bool:
    """A tree node, as opposed to a (key, value) pair of a dict literal (whose first item
    is itself a node, and may hold a list: it must not be looked up in a set)."""
    return isinstance(value, tuple) and bool(value) and isinstance(value[0], str) and value[0] in _KINDS


def static_path(node: Expr) -> tuple[str, ...] | None:
    """The reference path of ``steps['a'].outputs...`` chains, or None if not a reference."""
    if node[0] == "ref":
        return cast("tuple[str, ...]", node[1])
    if node[0] == "name" and node[1] in ROOT_LENGTHS:
        return (node[1],)
    if node[0] == "get":
        base = static_path(node[1])
        key = node[2]
        if base is not None and key[0] in ("lit", "str") and isinstance(key[1], (str, int)):
            return base + (str(key[1]),)
    return None


def template_references(text: str) -> list[tuple[str, ...]]:
    """References used by the ``{{...}}`` placeholders of a string."""
    out: list[tuple[str, ...]] = []
    for m in PLACEHOLDER.finditer(text):
        out.extend(references(parse_placeholder(m.group(1))))
    return out
