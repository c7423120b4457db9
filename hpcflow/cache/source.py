"""The identity of an OP's code at submit time: a hash of its source without comments or
docstrings, so that editing either keeps cached results while a logic edit does not."""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from typing import Any


def source_hash(obj: Any) -> str | None:
    """sha256 of ``obj``'s source as an AST with docstrings removed (comments never reach
    the AST); ``None`` when Python cannot find the source (an OP typed into a REPL)."""
    try:
        text = textwrap.dedent(inspect.getsource(obj))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError):
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


def op_source_hash(op_class: type) -> str | None:
    """The source hash of an OP class, or of the function a function OP wraps."""
    func = op_class.__dict__.get("_hpcflow_func")
    return source_hash(func if func is not None else op_class)
