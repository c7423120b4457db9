"""Dflow's small data helpers (``dflow.utils``, ``dflow.config``, ``dflow.io``...), with
Dflow's behaviour: flattening dicts, settings parsing, type names, artifact keys."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import UserDict
from pathlib import Path, PosixPath, WindowsPath
from typing import Any, Dict, List, Set, Union

import hpcflow
from hpcflow.python.opio import OPIOSign

# ----------------------------------------------------------------------------- dicts


def flatten(d: list[Any] | dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [2]}`` → ``{"a.b": 1, "c.0": 2}`` (leaves only)."""
    flat: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, value in items:
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (list, dict)):
                walk(value, name)
            else:
                flat[name] = value

    walk(d, "")
    return flat


def dict2list(d: dict[str, Any]) -> list[Any] | dict[str, Any]:
    """A dict whose keys are all integers becomes a list (gaps filled with None), recursively."""
    for key, value in d.items():
        if isinstance(value, dict):
            d[key] = dict2list(value)
    try:
        indexed = {int(k): v for k, v in d.items()}
    except (TypeError, ValueError):
        return d
    out: list[Any] = [None] * (max(indexed) + 1 if indexed else 0)
    for i, value in indexed.items():
        out[i] = value
    return out


def expand(d: dict[str, Any]) -> list[Any] | dict[str, Any]:
    """Inverse of :func:`flatten`."""
    tree: dict[str, Any] = {}
    for key, value in d.items():
        *parents, last = str(key).split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return dict2list(tree)


def update_dict(d1: dict[str, Any], d2: dict[str, Any]) -> None:
    """Merge ``d2`` into ``d1`` in place, recursing into nested dicts."""
    for key, value in d2.items():
        if isinstance(value, dict) and isinstance(d1.get(key), dict):
            update_dict(d1[key], value)
        else:
            d1[key] = value


class ObjectDict(UserDict[Any, Any]):
    """A dict whose keys are also attributes (Dflow's ObjectDict / ArgoObjectDict)."""

    def __getattr__(self, key: str) -> Any:
        if key == "data":
            raise AttributeError(key)
        try:
            value = self.data[key]
        except KeyError as exc:
            raise AttributeError(key) from exc
        return ObjectDict(value) if isinstance(value, dict) else value


# -------------------------------------------------------------------------- settings


def boolize(s: Any) -> Any:
    if isinstance(s, str):
        return s.lower() not in ("", "false", "0")
    return s


def nullable(s: Any) -> Any:
    return None if isinstance(s, str) and s.lower() == "none" else s


def split_headers(s: Any) -> Any:
    """``"a:1;b:2"`` → ``{"a": "1", "b": "2"}``."""
    if not isinstance(s, str):
        return s
    pairs = (h.split(":") for h in s.split(";"))
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def set_s3_config(**kwargs: Any) -> None:
    """Recorded for code that reads it back; hpcflow's storage comes from the site file."""
    hpcflow.s3_config.update(kwargs)


def import_func(s: str) -> Any:
    """``"package.module.name"`` → the object (``dflow.x`` names resolve through the alias)."""
    module, _, name = s.rpartition(".")
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------- types and OPs


def type_to_str(tp: Any) -> str:
    if hasattr(tp, "__module__") and hasattr(tp, "__name__"):
        return tp.__name__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__name__}"
    return str(tp)


def subclass_or_none(m: Any, cls: type) -> type | None:
    if inspect.isclass(m) and issubclass(m, cls) and m is not cls:
        return m
    if isinstance(m, cls) and type(m) is not cls:
        return type(m)
    return None


def find_subclass(pkg: Any, cls: type) -> list[type]:
    """Subclasses of ``cls`` defined in package ``pkg`` and its submodules."""
    found: list[type] = []

    def collect(module: Any) -> None:
        for _, member in inspect.getmembers(module):
            sub = subclass_or_none(member, cls)
            if sub is not None and sub not in found:
                found.append(sub)

    collect(pkg)
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), prefix=pkg.__name__ + "."):
        try:
            collect(importlib.import_module(info.name))
        except Exception:  # as in Dflow: a broken submodule does not hide the others
            continue
    return found


def get_source_code(o: Any) -> str:
    """The source of ``o`` with everything above it in its file (its imports, mostly)."""
    lines, start = inspect.getsourcelines(o)
    with open(inspect.getsourcefile(o) or "", encoding="utf-8") as fh:
        before = fh.readlines()[: max(start - 1, 0)]
    return "".join(before + lines) + "\n"


def get_sign_from_func(func: Any) -> tuple[OPIOSign, OPIOSign]:
    """The input and output signatures a function OP made from ``func`` would have."""
    from hpcflow.python.op import make_function_op

    op = make_function_op(func)
    return op.get_input_sign(), op.get_output_sign()


def type2opiosign(t: Any) -> OPIOSign:
    """A return annotation (dict literal, TypedDict, NamedTuple or type) as an OPIOSign."""
    from hpcflow.python.op import _output_sign_from_return

    return _output_sign_from_return(type2opiosign, t)[0]


class NestedDictStr:
    """Dflow's marker for ``NestedDict[str]``."""


class NestedDictPath:
    """Dflow's marker for ``NestedDict[Path]``."""


def _allowed_types() -> list[Any]:
    from hpcflow.python.opio import HDF5Datasets, NestedDict

    base: list[Any] = [str, Path, Set[str], Set[Path], List[str], List[Path], Dict[str, str],
                       Dict[str, Path], NestedDict[str], NestedDict[Path]]
    return base + [Union[t, HDF5Datasets] for t in base] + [HDF5Datasets]


ARTIFACT_ALLOWED_TYPES = _allowed_types()


# ------------------------------------------------------------------------- artifacts


class ArtifactStr(str):
    pass


class ArtifactPosixPath(PosixPath):
    pass


class ArtifactWindowsPath(WindowsPath):
    pass


class ArtifactList(list[Any]):
    pass


class ArtifactSet(set[Any]):
    pass


class ArtifactDict(dict[Any, Any]):
    pass


artifact_classes = {str: ArtifactStr, PosixPath: ArtifactPosixPath, WindowsPath: ArtifactWindowsPath,
                    list: ArtifactList, set: ArtifactSet, dict: ArtifactDict}


def get_key(artifact: Any, raise_error: bool = True) -> str | None:
    """Where an artifact is stored (an uploaded artifact's directory, or its S3 key)."""
    key = getattr(artifact, "key", None)
    if key is None and isinstance(getattr(artifact, "value", None), str):
        key = artifact.value
    if key is None and raise_error:
        raise FileNotFoundError("The artifact does not exist in the storage.")
    return key


def set_key(artifact: Any, key: str) -> None:
    artifact.key = key


class Variable:
    """An expression kept verbatim by :func:`evalable_repr`."""

    def __init__(self, expr: str) -> None:
        self.expr = expr

    def evalable_repr(self, imports: set[Any]) -> str:
        return self.expr


def evalable_repr(obj: Any, imports: set[Any]) -> str:
    """Python source that evaluates to ``obj`` (jsonpickle for anything but plain values)."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return repr(obj)
    if isinstance(obj, list):
        return "[" + ", ".join(evalable_repr(i, imports) for i in obj) + "]"
    if isinstance(obj, set):
        return "{" + ", ".join(evalable_repr(i, imports) for i in obj) + "}" if obj else "set()"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{evalable_repr(k, imports)}: {evalable_repr(v, imports)}"
                               for k, v in obj.items()) + "}"
    if hasattr(obj, "evalable_repr"):
        return str(obj.evalable_repr(imports))
    import jsonpickle

    imports.add((None, "jsonpickle"))
    return f"jsonpickle.loads({jsonpickle.dumps(obj)!r})"


# --------------------------------------------------------------------------- slices


def get_slices(path_object: Any, slices: Any) -> Any:
    """Part of a list/dict: an index, a dotted path ``"a.0.b"``, or a list of them."""
    if isinstance(slices, int):
        return path_object[slices]
    if isinstance(slices, str):
        for field in slices.split("."):
            path_object = path_object[int(field)] if isinstance(path_object, list) else path_object[field]
        return path_object
    if isinstance(slices, list):
        return [get_slices(path_object, s) for s in slices]
    return path_object


def path_or_none(p: Any) -> Any:
    if p is None:
        return None
    if isinstance(p, list):
        return [path_or_none(i) for i in p]
    if isinstance(p, dict):
        return {k: path_or_none(v) for k, v in p.items()}
    return Path(p)


def slice_to_dir(s: Any) -> str:
    return str(s).replace(".", "/")


def match_step_name(n: str, names: list[str]) -> bool:
    """Whether step name ``n`` is one of ``names`` or a slice of one (``name(3)``)."""
    return any(n == name or n.startswith(name + "(") for name in names)

