from pathlib import Path
from typing import List, Union

from dflow.python import OP, OPIO, Artifact, BigParameter, HDF5Datasets, OPIOSign
from dflow.python.opio import HDF5Dataset


class Report:
    """The project's own result type, passed between steps as a parameter."""

    def __init__(self, values=None):
        self.values = list(values or [])

    def total(self):
        return sum(self.values)


class Collect(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({
            "results": Artifact(Union[List[Path], HDF5Datasets]),
            "previous": BigParameter(Report),
        })

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"report": BigParameter(Report), "total": float})

    @OP.exec_sign_check
    def execute(self, ip: OPIO) -> OPIO:
        values = []
        for r in ip["results"]:
            values.append(r.get_data() if isinstance(r, HDF5Dataset) else float(Path(r).read_text()))
        previous = ip["previous"] or Report()
        report = Report(previous.values + values)
        return OPIO({"report": report, "total": float(report.total())})
