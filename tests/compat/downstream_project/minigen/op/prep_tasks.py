from abc import ABC, abstractmethod
from pathlib import Path
from typing import List

from dflow.python import OP, OPIO, Artifact, BigParameter, OPIOSign
from dflow.utils import set_directory

from minigen.constants import task_pattern


class PrepTasks(OP, ABC):
    """Make one task directory per configuration; subclasses say what a task holds."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({
            "confs": List[float],
            "template": BigParameter(dict),
        })

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({
            "task_names": List[str],
            "task_paths": Artifact(List[Path]),
        })

    @abstractmethod
    def write_task(self, conf: float, template: dict) -> None:
        """Write the input files of one task in the current directory."""

    @OP.exec_sign_check
    def execute(self, ip: OPIO) -> OPIO:
        names, paths = [], []
        for ii, conf in enumerate(ip["confs"]):
            name = task_pattern % ii
            with set_directory(Path(name), mkdir=True):
                self.write_task(conf, ip["template"] or {})
            names.append(name)
            paths.append(Path(name))
        return OPIO({"task_names": names, "task_paths": paths})


class PrepSquareTasks(PrepTasks):
    def write_task(self, conf, template):
        Path("input.txt").write_text("%s %s" % (conf, template.get("scale", 1)))
