"""Placeholders for Dflow names that only make sense on Argo, Kubernetes or Bohrium.

They import (so that a module importing them at the top still loads) and raise
:class:`~hpcflow.errors.NotSupported` when used: a class when it is instantiated, a function
when it is called. The message says why and what to use in hpcflow instead.
"""

from __future__ import annotations

from typing import Any

from hpcflow.compat.entries import Unsupported
from hpcflow.errors import NotSupported


def message(qualname: str, entry: Unsupported) -> str:
    return f"{qualname} is not supported by hpcflow: it {entry.why}. Use {entry.instead}."


def is_placeholder(obj: Any) -> bool:
    return getattr(obj, "_hpcflow_unsupported", None) is not None


def make_placeholder(module: str, name: str, entry: Unsupported) -> Any:
    """A class or function named like Dflow's that raises NotSupported when used."""
    text = message(f"{module}.{name}", entry)
    if entry.kind == "function":

        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise NotSupported(text)

        refuse.__name__ = refuse.__qualname__ = name
        refuse.__module__ = module
        refuse.__doc__ = text
        refuse._hpcflow_unsupported = entry  # type: ignore[attr-defined]  # a marker on the function
        return refuse

    def __init__(self: Any, *_args: Any, **_kwargs: Any) -> None:
        raise NotSupported(text)

    namespace = {"__init__": __init__, "__doc__": text, "__module__": module,
                 "_hpcflow_unsupported": entry}
    return type(name, (), namespace)
