"""The ``dflow`` alias: a ``sys.meta_path`` finder that serves ``dflow`` and ``dflow.x.y``
from the table in :mod:`hpcflow.compat.surface`.

Opt-in. ``hpcflow exec -- CMD`` sets :data:`ENV_VAR` and puts :data:`BOOT_DIR` on
``PYTHONPATH``; the ``dflow`` package there installs the finder the first time a process
imports ``dflow``. A process that imports hpcflow with :data:`ENV_VAR` set installs it too,
and so do the jobs of workflows submitted while it was active (their task records say so),
whatever environment the engine that launches them has.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

from hpcflow.node_settings import dflow_options

ENV_VAR = "HPCFLOW_DFLOW_ALIAS"
#: The directory ``hpcflow exec`` puts on PYTHONPATH: it holds the bootstrap ``dflow`` package.
BOOT_DIR = Path(__file__).resolve().parent / "path"

_announced = False


class DflowAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``dflow`` modules in the surface table; unknown ones are a clear error."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "dflow" and not fullname.startswith("dflow."):
            return None
        from hpcflow.compat import surface

        if fullname not in surface.MODULES:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: this Dflow module is not supported by hpcflow's "
                f"dflow alias (it provides the {len(surface.MODULES)} modules of pydflow "
                f"{surface.DFLOW_VERSION}, listed in hpcflow.compat.surface.MODULES)", name=fullname)
        return importlib.util.spec_from_loader(fullname, self, is_package=surface.is_package(fullname))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        from hpcflow.compat import surface

        return surface.build_module(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        """Names resolve lazily (module ``__getattr__``): nothing to run."""


def _finder() -> DflowAliasFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, DflowAliasFinder)), None)


def active() -> bool:
    """Whether ``import dflow`` resolves to hpcflow in this process."""
    return _finder() is not None


def install(announce: bool = False) -> None:
    """Make ``import dflow`` resolve to hpcflow in this process and in its children."""
    if _finder() is None:
        sys.meta_path.insert(0, DflowAliasFinder())
        stale = [m for m in sys.modules if m == "dflow" or m.startswith("dflow.")]
        for name in stale:  # a bootstrap module or a pydflow imported before the alias
            if not getattr(sys.modules[name], "_hpcflow_alias", False):
                del sys.modules[name]
    os.environ[ENV_VAR] = "1"
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(BOOT_DIR) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(BOOT_DIR), *[p for p in paths if p]])
    if announce:
        _announce_shadowed_pydflow()


def uninstall() -> None:
    """Undo :func:`install` in this process (tests use it)."""
    finder = _finder()
    if finder is not None:
        sys.meta_path.remove(finder)
    for name in [m for m in sys.modules if m == "dflow" or m.startswith("dflow.")]:
        del sys.modules[name]
    os.environ.pop(ENV_VAR, None)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(BOOT_DIR)]
    if paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        os.environ.pop("PYTHONPATH", None)


def which() -> str:
    """One line saying which ``dflow`` this process uses."""
    import hpcflow

    line = f"dflow is hpcflow {hpcflow.__version__} (the hpcflow dflow alias)"
    pydflow = pydflow_version()
    if pydflow is not None:
        line += f"; pydflow {pydflow} is installed but not used (run without `hpcflow exec` to use it)"
    return line


def pydflow_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("pydflow")
    except metadata.PackageNotFoundError:
        return None


def _announce_shadowed_pydflow() -> None:
    """Say which dflow is in use when the real one is installed too (once per process)."""
    global _announced
    if _announced or dflow_options().quiet:
        return
    _announced = True
    if pydflow_version() is not None:
        print(f"hpcflow: {which()}", file=sys.stderr)
        os.environ["HPCFLOW_DFLOW_ALIAS_QUIET"] = "1"  # said once: child processes stay quiet


def child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which Python processes resolve ``dflow`` to hpcflow."""
    env = dict(os.environ if base is None else base)
    env[ENV_VAR] = "1"
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(BOOT_DIR)]
    env["PYTHONPATH"] = os.pathsep.join([str(BOOT_DIR), *paths])
    return env


def install_from_environment() -> None:
    """Called on ``import hpcflow``: honour :data:`ENV_VAR` in any hpcflow process."""
    if dflow_options().alias and _finder() is None:
        install()
