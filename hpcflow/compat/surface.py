"""Dflow's module layout, served by the alias: each ``dflow`` module is built from a table.

A table maps each public name of the Dflow module to what hpcflow gives for it: a target
``"package.module:attr"`` (the hpcflow object itself), ``"dflow.x:Name"`` (the same entry
of another Dflow module), an :class:`~hpcflow.compat.unsupported.Unsupported` placeholder,
or a :class:`Value` made on first use. Names resolve lazily, so ``import dflow`` costs
little more than ``import hpcflow``.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from hpcflow.compat.entries import Unsupported, Value
from hpcflow.compat.names import CORE
from hpcflow.compat.names_platform import PLATFORM
from hpcflow.compat.unsupported import make_placeholder

#: The pydflow release whose names the tables mirror.
DFLOW_VERSION = "1.8.134"


MODULES: dict[str, dict[str, Any]] = {**CORE, **PLATFORM}
_placeholders: dict[tuple[str, str], Any] = {}


def is_package(name: str) -> bool:
    return any(m.startswith(name + ".") for m in MODULES)


def submodules(name: str) -> list[str]:
    depth = name.count(".") + 1
    return sorted(m.rsplit(".", 1)[1] for m in MODULES if m.startswith(name + ".") and m.count(".") == depth)


def build_module(name: str) -> types.ModuleType:
    """A module object for ``dflow...`` whose attributes come from its table."""
    table = MODULES[name]
    module = types.ModuleType(name, f"hpcflow's stand-in for Dflow's {name} (pydflow {DFLOW_VERSION}).")
    module._hpcflow_alias = True  # type: ignore[attr-defined]  # a marker on the module
    module.__all__ = [n for n in table if not n.startswith("_")]  # type: ignore[attr-defined]  # a new module

    def __getattr__(attr: str) -> Any:
        value = resolve(name, attr)
        setattr(module, attr, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(table) | set(submodules(name)))

    module.__getattr__ = __getattr__  # type: ignore[method-assign]  # PEP 562 lazy names
    module.__dir__ = __dir__  # type: ignore[method-assign]  # PEP 562 lazy names
    return module


def resolve(module: str, attr: str) -> Any:
    """The object hpcflow gives for Dflow's ``module.attr``."""
    table = MODULES[module]
    if attr in table:
        return _materialize(module, attr, table[attr])
    if f"{module}.{attr}" in MODULES:
        return importlib.import_module(f"{module}.{attr}")
    raise AttributeError(
        f"module {module!r} has no attribute {attr!r} (it is not a public name of pydflow "
        f"{DFLOW_VERSION}'s {module}, or hpcflow's dflow alias does not provide it)")


def _materialize(module: str, attr: str, entry: Any) -> Any:
    if isinstance(entry, Unsupported):
        key = (module, attr)
        if key not in _placeholders:
            _placeholders[key] = make_placeholder(module, attr, entry)
        return _placeholders[key]
    if isinstance(entry, Value):
        return entry.make()
    target, _, name = entry.partition(":")
    if target.startswith("dflow"):
        return resolve(target, name)
    obj = importlib.import_module(target)
    for part in name.split(".") if name else []:
        obj = getattr(obj, part)
    return obj
