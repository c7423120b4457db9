"""What a job needs to import its OPs, recorded once when the workflow is submitted.

The process that ticks a workflow (the daemon, cron's ``hpcflow tick``, another script)
is not the one that submitted it: its ``sys.path[0]``, working directory and
``PYTHONPATH`` say nothing about where the user's modules live. So the submitting process
records a :class:`LaunchRecord` in the store (the directories its OPs and parameter
classes were imported from, ``upload_packages``, its ``PYTHONPATH`` and its interpreter)
and every job of the workflow is started from that record alone.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcflow.containers.pythonpath import default_hpcflow_root


@dataclass(frozen=True)
class LaunchRecord:
    """How to start the jobs of one workflow (stored as JSON with the workflow)."""

    #: Directories put on the job's ``PYTHONPATH``, in order, after hpcflow's own.
    python_path: tuple[str, ...] = ()
    #: The interpreter that submitted the workflow (used unless the site names one).
    interpreter: str | None = None
    #: Submitted under the Dflow alias (``hpcflow exec``): jobs resolve ``dflow`` too.
    dflow_alias: bool = False
    #: ``upload_packages`` themselves (what is shipped to a cluster reached over SSH).
    packages: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"python_path": list(self.python_path), "interpreter": self.interpreter,
                "dflow_alias": self.dflow_alias, "packages": list(self.packages)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> LaunchRecord | None:
        """``None`` for a workflow stored before launch records existed."""
        if not data:
            return None
        return cls(tuple(data.get("python_path") or ()), data.get("interpreter"),
                   bool(data.get("dflow_alias")), tuple(data.get("packages") or ()))


def capture_launch(module_names: Iterable[str] = (), packages: Iterable[str] = (),
                   python_path: Iterable[str] = (), debug_mode: bool = False) -> LaunchRecord:
    """The launch record of the current (submitting) process.

    Args:
        module_names: modules the workflow's OPs and parameter classes come from; the
            ``sys.path`` entry each was imported from is recorded.
        packages: ``upload_packages`` entries (package directories or module files); the
            directory containing each is recorded.
        python_path: the submitting process's ``PYTHONPATH`` entries.
        debug_mode: Dflow's debug mode, which runs OPs on the submitter's own path: every
            project directory of ``sys.path`` is recorded (after the others).
    """
    paths: list[str] = [_script_dir()]
    for name in module_names:
        root = _import_root(name)
        if root is not None:
            paths.append(root)
    packages = [str(Path(p).resolve()) for p in packages]
    paths += [str(Path(p).parent) for p in packages]
    paths += python_path
    if debug_mode:
        paths += [p or os.getcwd() for p in sys.path if Path(p or os.getcwd()).is_dir()]
    resolved = dict.fromkeys(str(Path(p).resolve()) for p in paths)
    kept = tuple(p for p in resolved if not _installed_packages_dir(p) and not _alias_bootstrap(p))
    return LaunchRecord(kept, sys.executable, _dflow_alias_active(), tuple(packages))


def modules_in_spec(spec: Any) -> list[str]:
    """Modules a compiled spec refers to: OPs by import path, parameter classes by name."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("module"), str) and "qualname" in value:
                found.append(value["module"])
            for key in _PICKLE_TAGS:
                if isinstance(value.get(key), str):
                    found.extend(_module_prefixes(value[key]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(spec)
    return list(dict.fromkeys(found))


_PICKLE_TAGS = ("py/object", "py/type", "py/function")


def _module_prefixes(dotted: str) -> list[str]:
    """``pkg.mod.Class.Inner`` -> ``["pkg.mod"]``: the longest prefix that is a loaded module."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:i]) in sys.modules:
            return [".".join(parts[:i])]
    return []


def job_environment(record: LaunchRecord | None, user: str) -> dict[str, str]:
    """The environment variables a job of a workflow with ``record`` starts with."""
    paths = [str(default_hpcflow_root())]
    if record is not None:
        paths += record.python_path
    else:  # a workflow stored by an older hpcflow: the best this process knows
        paths.append(_script_dir())
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "PYTHONUNBUFFERED": "1"}
    env["USER"] = user or _user_name()
    if record is not None and record.dflow_alias:
        env["HPCFLOW_DFLOW_ALIAS"] = "1"  # the runtime installs the alias (hpcflow.compat)
    return env


def _script_dir() -> str:
    """Where the submitting script lives (``sys.path[0]``; the working directory if empty)."""
    first = sys.path[0] if sys.path and sys.path[0] else os.getcwd()
    return str(Path(first).resolve())


def _import_root(module_name: str) -> str | None:
    """The ``sys.path`` entry ``module_name`` was imported from (``None`` if unknown)."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file or module_name == "__main__":
        return None
    path = Path(file).resolve()
    depth = module_name.count(".") + (2 if path.name == "__init__.py" else 1)
    root = path
    for _ in range(depth):
        root = root.parent
    return str(root)


def _dflow_alias_active() -> bool:
    alias = sys.modules.get("hpcflow.compat.alias")
    return alias is not None and bool(alias.active())


def _alias_bootstrap(path: str) -> bool:
    """The alias's bootstrap directory: jobs install the alias themselves."""
    return Path(path).name == "path" and (Path(path) / "dflow").is_dir()


def _installed_packages_dir(path: str) -> bool:
    """The standard library or an installed-packages directory: the interpreter finds
    those by itself, and binding one into a container would shadow the image's own."""
    if Path(path).name in ("site-packages", "dist-packages"):
        return True
    stdlib = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib")}
    return path in {str(Path(p).resolve()) for p in stdlib if p}


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
