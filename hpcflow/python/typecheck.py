"""A small runtime type checker for OP signatures (the subset of typing OPs use).

Dflow relies on typeguard; we check the same things ourselves so the error can name the OP,
the field, the expected and the actual type in one sentence.
"""

from __future__ import annotations

import collections.abc as cabc
import os
import sys
import types
import typing
from typing import Any, get_args, get_origin

from hpcflow.pathtypes import is_path_type
from hpcflow.python.opio import NestedDict


def _typing_extensions() -> Any:
    """typing_extensions if some module already imported it (its Literal is its own
    flavour), else None: importing it here would cost every job ~10 ms for nothing."""
    return sys.modules.get("typing_extensions")


def check_type(value: Any, expected: Any) -> bool:
    """Return whether ``value`` conforms to the type ``expected``."""
    if expected is Any or expected is object or expected is None and value is None:
        return True
    if expected is None or expected is type(None):
        return value is None
    if isinstance(expected, typing.TypeVar):
        return True
    if isinstance(expected, str):  # unresolved forward reference: accept
        return True
    origin = get_origin(expected)
    args = get_args(expected)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return any(check_type(value, a) for a in args)
    if origin is typing.Literal or ((te := _typing_extensions()) is not None and origin is te.Literal):
        return value in args
    if origin is NestedDict:
        return _check_nested(value, args[0] if args else Any)
    if expected is NestedDict:
        return isinstance(value, dict)
    if origin is None:
        return _check_plain(value, expected)
    if origin in (list, cabc.Sequence, cabc.MutableSequence):
        if not isinstance(value, (list, tuple)) or origin is list and not isinstance(value, list):
            return False
        return not args or all(check_type(v, args[0]) for v in value)
    if origin in (set, frozenset, cabc.Set, cabc.MutableSet):
        if not isinstance(value, (set, frozenset, list)):
            return False
        return not args or all(check_type(v, args[0]) for v in value)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(check_type(v, args[0]) for v in value)
        return len(args) == len(value) and all(check_type(v, a) for v, a in zip(value, args, strict=True))
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        if not isinstance(value, cabc.Mapping):
            return False
        if not args:
            return True
        return all(check_type(k, args[0]) and check_type(v, args[1]) for k, v in value.items())
    if origin is type:
        return isinstance(value, type)
    if isinstance(origin, type):
        return isinstance(value, origin)
    return True


def _check_plain(value: Any, expected: Any) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) or isinstance(
            value, float
        )
    if expected is complex:
        return isinstance(value, (int, float, complex))
    if expected is os.PathLike or is_path_type(expected):
        return isinstance(value, (str, os.PathLike))
    if _is_typeddict(expected):
        return isinstance(value, dict)
    if isinstance(expected, type):
        return isinstance(value, expected)
    return True


def _check_nested(value: Any, leaf: Any) -> bool:
    if isinstance(value, dict):
        return all(_check_nested(v, leaf) for v in value.values())
    return check_type(value, leaf)


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__annotations__") and (
        hasattr(tp, "__total__")
    )


def describe_value_type(value: Any) -> str:
    """A short description of the actual type of ``value`` for error messages."""
    if isinstance(value, list):
        inner = sorted({type(v).__name__ for v in value})
        return f"list[{' | '.join(inner)}]" if inner else "list (empty)"
    if isinstance(value, dict):
        inner = sorted({type(v).__name__ for v in value.values()})
        return f"dict[..., {' | '.join(inner)}]" if inner else "dict (empty)"
    return type(value).__name__
