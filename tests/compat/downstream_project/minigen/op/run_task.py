import os
from pathlib import Path

from dflow.python import OP, OPIO, Artifact, BigParameter, OPIOSign, TransientError
from dflow.utils import run_command, set_directory


class RunTask(OP):
    """Run one task: its value squared times the scale, through a shell command."""

    default_optional_parameter = {"mode": "plain"}

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({
            "task_name": str,
            "task_path": Artifact(Path),
            "init_model": Artifact(Path, optional=True),
            "config": BigParameter(dict),
            "optional_parameter": BigParameter(dict, default=cls.default_optional_parameter),
        })

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({
            "result": Artifact(Path),
            "log": Artifact(Path),
            "env": dict,
        })

    @OP.exec_sign_check
    def execute(self, ip: OPIO) -> OPIO:
        conf, scale = (float(x) for x in (ip["task_path"] / "input.txt").read_text().split())
        offset = 0.0
        if ip["init_model"] is not None:
            offset = float(Path(ip["init_model"]).read_text())
        with set_directory(Path(ip["task_name"]), mkdir=True):
            code, out, err = run_command(["sh", "-c", "echo $((%d * %d))" % (conf, conf)], raise_error=False)
            if code != 0:
                raise TransientError("the shell blinked: %s" % err)
            value = float(out.strip()) * scale + offset
            Path("result.txt").write_text(str(value))
            Path("log").write_text("mode=%s\n" % ip["optional_parameter"].get("mode"))
        env = {k: os.environ.get(k) for k in ("MINIGEN_EXECUTOR", "MINIGEN_SOURCED", "SLURM_JOB_ID",
                                              "SLURM_JOB_PARTITION", "SLURM_MEM_PER_NODE")}
        return OPIO({
            "result": Path(ip["task_name"]) / "result.txt",
            "log": Path(ip["task_name"]) / "log",
            "env": env,
        })
