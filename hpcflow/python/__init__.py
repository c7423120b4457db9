"""Dflow's ``dflow.python`` namespace: OPs, signatures, templates and errors."""

from hpcflow.python.op import OP, FatalError, TransientError
from hpcflow.python.opio import OPIO, Artifact, BigParameter, NestedDict, OPIOSign, Parameter
from hpcflow.python.template import PythonOPTemplate, Slices


def upload_packages(*paths: str) -> list[str]:
    """Dflow compatibility: in hpcflow, pass ``python_packages=[...]`` to the template."""
    return list(paths)


__all__ = [
    "OP", "OPIO", "Artifact", "BigParameter", "FatalError", "NestedDict", "OPIOSign",
    "Parameter", "PythonOPTemplate", "Slices", "TransientError", "upload_packages",
]
