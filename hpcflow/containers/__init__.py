"""Container runtimes: turn "run this argv in image X with binds, env, GPUs" into argv.

One interface (:class:`ContainerRuntime`) with four implementations, chosen by name from
the site configuration through :func:`get_runtime`. Building a command never runs one;
only :meth:`ContainerRuntime.check` probes the site, through a transport.
"""

from __future__ import annotations

from collections.abc import Sequence

from hpcflow.containers.apptainer import ApptainerRuntime
from hpcflow.containers.base import GPU, Bind, ContainerRun, ContainerRuntime
from hpcflow.containers.charliecloud import CharliecloudRuntime
from hpcflow.containers.none import NoRuntime
from hpcflow.containers.pythonpath import PKG_ROOT, default_hpcflow_root, python_path_binds
from hpcflow.errors import ContainerError

RUNTIMES = ("apptainer", "singularity", "charliecloud", "none")


def get_runtime(
    name: str, executable: str | None = None, options: Sequence[str] = ()
) -> ContainerRuntime:
    """The runtime called ``name``; ``options`` are site flags inserted after ``exec``.

    For charliecloud (no subcommand) they follow the ``ch-run`` binary; ``none`` takes
    neither an executable nor options.
    """
    if name in ("apptainer", "singularity"):
        return ApptainerRuntime(name, executable, options)
    if name == "charliecloud":
        return CharliecloudRuntime(executable, options)
    if name == "none":
        if executable is not None or options:
            raise ContainerError("runtime 'none' takes no executable or options")
        return NoRuntime()
    raise ContainerError(
        f"unknown container runtime {name!r}; expected one of {', '.join(RUNTIMES)}"
    )


__all__ = [
    "GPU",
    "PKG_ROOT",
    "RUNTIMES",
    "ApptainerRuntime",
    "Bind",
    "CharliecloudRuntime",
    "ContainerRun",
    "ContainerRuntime",
    "NoRuntime",
    "default_hpcflow_root",
    "get_runtime",
    "python_path_binds",
]
