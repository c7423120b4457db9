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
)
from dflow.python import OP, PythonOPTemplate

from minigen.op import Collect
from minigen.superop.prep_run import PrepRunTasks


class Block(Steps):
    """One iteration: prepare and run the tasks, then collect; an optional extra run when
    the optional parameter asks for fine-tuning (a key it usually lacks)."""

    def __init__(self, name: str, prep_run: PrepRunTasks, collect_op: Type[OP] = Collect):
        super().__init__(
            name=name,
            inputs=Inputs(
                parameters={"block_id": InputParameter(), "confs": InputParameter(),
                            "template": InputParameter(), "run_config": InputParameter(),
                            "optional_parameter": InputParameter(type=dict, value={}),
                            "previous": InputParameter(value=None)},
                artifacts={"init_model": InputArtifact(optional=True)},
            ),
            outputs=Outputs(parameters={"total": OutputParameter(), "report": OutputParameter(),
                                        "envs": OutputParameter()},
                            artifacts={"results": OutputArtifact()}),
        )
        opt = self.inputs.parameters["optional_parameter"]
        common = {k: self.inputs.parameters[k] for k in ("block_id", "confs", "template", "run_config")}
        run = Step("prep-run", template=prep_run, parameters={**common, "optional_parameter": opt},
                   artifacts={"init_model": self.inputs.artifacts["init_model"]})
        self.add(run)
        finetune = Step("finetune", template=prep_run, parameters={**common, "optional_parameter": opt},
                        when="%s == 'finetune'" % opt["finetune_mode"])
        self.add(finetune)
        collect = Step("collect", template=PythonOPTemplate(collect_op),
                       parameters={"previous": self.inputs.parameters["previous"]},
                       artifacts={"results": run.outputs.artifacts["results"]},
                       key="%s--collect" % self.inputs.parameters["block_id"])
        self.add(collect)
        self.outputs.parameters["total"].value_from_parameter = collect.outputs.parameters["total"]
        self.outputs.parameters["report"].value_from_parameter = collect.outputs.parameters["report"]
        self.outputs.parameters["envs"].value_from_parameter = run.outputs.parameters["envs"]
        self.outputs.artifacts["results"]._from = run.outputs.artifacts["results"]
