"""Dflow's ``dflow.python`` namespace: OPs, signatures, templates and errors."""

from typing import Any

from hpcflow.python.op import OP, FatalError, TransientError
from hpcflow.python.opio import (
    OPIO,
    Artifact,
    BigParameter,
    HDF5Datasets,
    NestedDict,
    OPIOSign,
    Parameter,
)

#: Dflow's list of extra packages/files (directories or ``x.py``) the jobs import: the
#: directory holding each is recorded with the workflow at submit time and put on the
#: jobs' ``PYTHONPATH`` (bound into containers), as are the script's own directory and
#: the directories its OP modules came from.
upload_packages: list[str] = []


def __getattr__(name: str) -> Any:
    # The templates import the DSL; jobs never need them, so they load on first use.
    if name in ("PythonOPTemplate", "Slices"):
        from hpcflow.python import template

        return getattr(template, name)
    raise AttributeError(f"module 'hpcflow.python' has no attribute {name!r}")


__all__ = [
    "OP", "OPIO", "Artifact", "BigParameter", "FatalError", "HDF5Datasets", "NestedDict", "OPIOSign",
    "Parameter", "PythonOPTemplate", "Slices", "TransientError", "upload_packages",
]
