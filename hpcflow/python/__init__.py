"""Dflow's ``dflow.python`` namespace: OPs, signatures, templates and errors."""

from hpcflow.python.op import OP, FatalError, TransientError
from hpcflow.python.opio import OPIO, Artifact, BigParameter, NestedDict, OPIOSign, Parameter
from hpcflow.python.template import PythonOPTemplate, Slices


#: Dflow's list of extra packages/files to ship; hpcflow makes the submitting script's
#: directory importable in jobs already, so entries are accepted and need nothing more.
upload_packages: list[str] = []


__all__ = [
    "OP", "OPIO", "Artifact", "BigParameter", "FatalError", "NestedDict", "OPIOSign",
    "Parameter", "PythonOPTemplate", "Slices", "TransientError", "upload_packages",
]
