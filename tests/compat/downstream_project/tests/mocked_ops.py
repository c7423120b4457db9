"""Mocked OPs, as Dflow projects test their super-OPs: same signatures, trivial work."""

from pathlib import Path

from dflow.python import OP, OPIO
from minigen.op import RunTask


class MockedRunTask(RunTask):
    @OP.exec_sign_check
    def execute(self, ip: OPIO) -> OPIO:
        value = float((ip["task_path"] / "input.txt").read_text().split()[0])
        out = Path(ip["task_name"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.txt").write_text(str(10 * value))
        (out / "log").write_text("mocked mode=%s" % ip["optional_parameter"].get("mode"))
        return OPIO({"result": out / "result.txt", "log": out / "log", "env": {}})
