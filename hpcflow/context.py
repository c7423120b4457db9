"""The construction context: which Workflow / Steps / DAG a ``with`` block is building.

A ContextVar stack (not a module global) so that nested ``with`` blocks and threads do not
see each other's state. The DSL registers containers here; function OPs called inside a
``with`` block look here to become steps instead of running.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_stack: ContextVar[tuple[Any, ...]] = ContextVar("hpcflow_context", default=())


def push(container: Any) -> None:
    _stack.set(_stack.get() + (container,))


def pop(container: Any) -> None:
    stack = _stack.get()
    if not stack or stack[-1] is not container:
        raise RuntimeError("hpcflow context stack out of order")
    _stack.set(stack[:-1])


def current() -> Any | None:
    """The innermost container being built, or ``None`` outside any ``with`` block."""
    stack = _stack.get()
    return stack[-1] if stack else None
