"""Make hpcflow and a step's ``python_packages`` importable inside an unmodified image.

Each package's parent directory is bound read-only under ``/hpcflow/pkgs/<n>`` and the
returned ``PYTHONPATH`` lists those mount points, hpcflow's first so a step cannot shadow
it. Binding the *parent* exposes its siblings too: if that parent is a host
``site-packages``, every host package (compiled for the host's Python) lands on the
image's path ahead of the image's own. Ship hpcflow from a source checkout or a
dedicated directory when images carry compiled packages of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hpcflow.containers.base import Bind
from hpcflow.errors import ContainerError

PKG_ROOT = "/hpcflow/pkgs"


def default_hpcflow_root() -> Path:
    """The directory holding the running ``hpcflow`` package (a checkout or site-packages)."""
    import hpcflow.errors

    return Path(hpcflow.errors.__file__).resolve().parent.parent


def python_path_binds(packages: Sequence[Path], hpcflow_root: Path,
                      directories: Sequence[Path] = ()) -> tuple[list[Bind], str]:
    """Binds and the in-container ``PYTHONPATH`` for hpcflow plus ``packages``.

    Args:
        packages: package directories or module files (``x.py``) a step imports.
        hpcflow_root: the directory containing the ``hpcflow`` package (the package
            directory itself is accepted too).
        directories: import roots put on the path as they are (the submitting script's
            directory and the others recorded when the workflow was submitted); the ones
            that no longer exist are left out.

    Returns:
        ``(binds, pythonpath)``: one read-only bind per distinct parent directory, mounted
        at ``/hpcflow/pkgs/0``, ``/1``, ... and the ``:``-joined mount points.
    """
    root = Path(hpcflow_root).resolve()
    if root.name == "hpcflow" and (root / "errors.py").is_file():
        root = root.parent
    if not (root / "hpcflow").is_dir():
        raise ContainerError(f"hpcflow_root {str(hpcflow_root)!r} does not contain hpcflow/")
    parents: list[Path] = [root]
    for package in packages:
        path = Path(package).resolve()
        if not path.exists():
            raise ContainerError(f"python package {str(package)!r} does not exist")
        if path.parent not in parents:
            parents.append(path.parent)
    for directory in directories:
        path = Path(directory).resolve()
        if path.is_dir() and path not in parents:
            parents.append(path)
    binds = [
        Bind(str(parent), f"{PKG_ROOT}/{n}", read_only=True) for n, parent in enumerate(parents)
    ]
    return binds, ":".join(b.dest for b in binds)
