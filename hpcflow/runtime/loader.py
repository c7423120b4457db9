"""Load the OP a unit runs: import it by module path, or unpickle it when it was shipped."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from hpcflow.python.op import OP


class OPLoadError(Exception):
    """The job's Python cannot load the OP; the message says why and what to do."""


def load_op(ref: dict[str, Any], python_paths: list[str]) -> Any:
    """Return an OP instance for a task's ``op`` reference.

    ``python_paths`` are the template's python_packages: a package directory or a module
    file is importable by its name (its parent goes on sys.path, as in Dflow); any other
    directory goes on sys.path itself.
    """
    for p in reversed(python_paths):
        entry = _path_entry(p)
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if "module" in ref:
        try:
            obj: Any = importlib.import_module(ref["module"])
            for part in ref["qualname"].split("."):
                obj = getattr(obj, part)
        except Exception as exc:
            import platform

            raise OPLoadError(
                f"cannot import OP {ref['module']}.{ref['qualname']} with {sys.executable} "
                f"(Python {platform.python_version()}): {type(exc).__name__}: {exc}. "
                "Install the module where jobs run, or add it to python_packages."
            ) from exc
        return _instance(obj)
    import pickle
    import platform

    data = _pickle_bytes(ref)
    try:
        obj = pickle.loads(data)
    except Exception as exc:
        raise OPLoadError(
            f"cannot load OP {ref.get('name', '?')} shipped from the submitting script: "
            f"{type(exc).__name__}: {exc}. It was pickled by Python {ref.get('python')} and "
            f"this job runs {sys.executable} (Python {platform.python_version()}); use the "
            "same Python and the same packages, or move the OP into an importable module."
        ) from exc
    return _instance(obj)


def _path_entry(path: str) -> str:
    if os.path.isfile(path) or os.path.isfile(os.path.join(path, "__init__.py")):
        return os.path.dirname(os.path.realpath(path))
    return path


def _instance(obj: Any) -> Any:
    return cast("type[OP]", obj).instantiate() if isinstance(obj, type) else obj


def _pickle_bytes(ref: dict[str, Any]) -> bytes:
    if "pickle_file" in ref:
        with open(ref["pickle_file"], "rb") as fh:
            return fh.read()
    import base64

    return base64.b64decode(ref["pickle"])
