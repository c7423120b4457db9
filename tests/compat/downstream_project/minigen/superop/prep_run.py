from copy import deepcopy
from typing import Type

from dflow import (
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
    Step,
    Steps,
    argo_len,
    argo_sequence,
)
from dflow.python import OP, PythonOPTemplate, Slices

from minigen.constants import run_index_pattern
from minigen.op import RunTask
from minigen.utils.step_config import init_executor
from minigen.utils.step_config import normalize as normalize_step_dict


class PrepRunTasks(Steps):
    """Prepare tasks, then run them all in parallel (one slice per task)."""

    def __init__(self, name: str, prep_op: Type[OP], run_op: Type[RunTask],
                 prep_config: dict | None = None, run_config: dict | None = None):
        self._input_parameters = {
            "block_id": InputParameter(type=str, value=""),
            "confs": InputParameter(),
            "template": InputParameter(),
            "run_config": InputParameter(),
            "optional_parameter": InputParameter(type=dict, value=run_op.default_optional_parameter),
        }
        self._input_artifacts = {"init_model": InputArtifact(optional=True)}
        self._output_parameters = {"task_names": OutputParameter(), "envs": OutputParameter()}
        self._output_artifacts = {"results": OutputArtifact(), "logs": OutputArtifact()}
        super().__init__(
            name=name,
            inputs=Inputs(parameters=self._input_parameters, artifacts=self._input_artifacts),
            outputs=Outputs(parameters=self._output_parameters, artifacts=self._output_artifacts),
        )
        self.step_keys = {
            "prep": "--".join(["%s" % self.inputs.parameters["block_id"], "prep"]),
            "run": "--".join(["%s" % self.inputs.parameters["block_id"], "run-{{item}}"]),
        }
        _prep_run(self, prep_op, run_op, normalize_step_dict(prep_config or {}),
                  normalize_step_dict(run_config or {}))


def _prep_run(steps, prep_op, run_op, prep_config, run_config):
    prep_config, run_config = deepcopy(prep_config), deepcopy(run_config)
    prep_template_config = prep_config.pop("template_config")
    run_template_config = run_config.pop("template_config")
    prep_executor = init_executor(prep_config.pop("executor"))
    run_executor = init_executor(run_config.pop("executor"))

    prep = Step(
        "prep-tasks",
        template=PythonOPTemplate(prep_op, **prep_template_config),
        parameters={"confs": steps.inputs.parameters["confs"],
                    "template": steps.inputs.parameters["template"]},
        key=steps.step_keys["prep"],
        executor=prep_executor,
        **prep_config,
    )
    steps.add(prep)
    run = Step(
        "run-task",
        template=PythonOPTemplate(
            run_op,
            slices=Slices("int('{{item}}')", input_parameter=["task_name"], input_artifact=["task_path"],
                          output_artifact=["result", "log"], output_parameter=["env"]),
            **run_template_config,
        ),
        parameters={
            "task_name": prep.outputs.parameters["task_names"],
            "config": steps.inputs.parameters["run_config"],
            "optional_parameter": steps.inputs.parameters["optional_parameter"],
        },
        artifacts={
            "task_path": prep.outputs.artifacts["task_paths"],
            "init_model": steps.inputs.artifacts["init_model"],
        },
        with_sequence=argo_sequence(argo_len(prep.outputs.parameters["task_names"]),
                                    format=run_index_pattern),
        key=steps.step_keys["run"],
        executor=run_executor,
        **run_config,
    )
    steps.add(run)
    steps.outputs.parameters["task_names"].value_from_parameter = prep.outputs.parameters["task_names"]
    steps.outputs.parameters["envs"].value_from_parameter = run.outputs.parameters["env"]
    steps.outputs.artifacts["results"]._from = run.outputs.artifacts["result"]
    steps.outputs.artifacts["logs"]._from = run.outputs.artifacts["log"]
    return steps
