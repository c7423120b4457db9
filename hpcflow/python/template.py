"""PythonOPTemplate and Slices: run an OP class, optionally sliced into many parallel parts."""

from __future__ import annotations

from typing import Any

from hpcflow.dsl.io import (
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
)
from hpcflow.dsl.templates import OPTemplate, unique_name
from hpcflow.errors import SpecError
from hpcflow.python.op import OP, get_op_class, op_display_name
from hpcflow.python.opio import Artifact, Parameter, as_sign


class Slices:
    """Map an OP over parts of its inputs (Dflow's Slices).

    Args:
        slices: which part each parallel instance takes, usually ``"{{item}}"``.
        input_parameter / input_artifact: inputs that are lists; instance i gets element i.
        output_parameter / output_artifact: outputs stacked into lists, in order.
        sub_path: give each instance only its element of a list artifact.
        group_size: run this many slices in one job (one Slurm array task).
        pool_size: within a group, run this many slices at once (processes).
        create_dir: run each slice in its own directory.
    """

    def __init__(
        self,
        slices: Any = None,
        input_parameter: list[str] | None = None,
        input_artifact: list[str] | None = None,
        output_parameter: list[str] | None = None,
        output_artifact: list[str] | None = None,
        sub_path: bool = False,
        group_size: int | None = None,
        pool_size: int | None = None,
        create_dir: bool = False,
        shuffle: bool = False,
        random_seed: int = 0,
        **ignored: Any,
    ) -> None:
        self.slices = "{{item}}" if slices is None else slices
        self.input_parameter = list(input_parameter or [])
        self.input_artifact = list(input_artifact or [])
        self.output_parameter = list(output_parameter or [])
        self.output_artifact = list(output_artifact or [])
        self.sub_path = sub_path
        self.group_size = group_size
        self.pool_size = pool_size
        self.create_dir = create_dir
        self.shuffle = shuffle
        self.random_seed = random_seed
        if group_size is not None and group_size < 1:
            raise SpecError(f"Slices: group_size must be >= 1, got {group_size}")
        if pool_size is not None and pool_size < 1 and pool_size != -1:
            raise SpecError(f"Slices: pool_size must be >= 1 (or -1 for all cores), got {pool_size}")


class PythonOPTemplate(OPTemplate):
    """Run an OP class (or a function OP) as a step, with Dflow's options."""

    kind = "python"

    def __init__(
        self,
        op_class: type[OP] | OP,
        image: str | None = None,
        command: list[str] | None = None,
        slices: Slices | None = None,
        name: str | None = None,
        output_artifact_archive: dict[str, Any] | None = None,
        output_parameter_default: dict[str, Any] | None = None,
        input_artifact_prefix: dict[str, Any] | None = None,
        upload_dflow: bool = True,
        **kwargs: Any,
    ) -> None:
        cls = get_op_class(op_class)
        self.op_class = cls
        self.op_instance = op_class if isinstance(op_class, OP) else None
        super().__init__(
            name=name or unique_name(op_display_name(cls)),
            image=image,
            command=command or ["python3"],
            **kwargs,
        )
        self.slices = slices
        self.output_parameter_default = dict(output_parameter_default or {})
        self._build_io(cls)
        if slices is not None:
            self._check_slices(slices)

    def _build_io(self, cls: type[OP]) -> None:
        in_sign = as_sign(cls.get_input_sign())
        out_sign = as_sign(cls.get_output_sign())
        inputs = Inputs()
        for key, spec in in_sign.items():
            if isinstance(spec, Artifact):
                inputs.artifacts[key] = InputArtifact(optional=spec.optional)
            elif isinstance(spec, Parameter) and spec.has_default:
                inputs.parameters[key] = InputParameter(value=spec.default, type=spec.type)
            else:
                inputs.parameters[key] = InputParameter(type=spec.type)
        outputs = Outputs()
        for key, spec in out_sign.items():
            if isinstance(spec, Artifact):
                outputs.artifacts[key] = OutputArtifact(optional=spec.optional)
            else:
                default = self.output_parameter_default.get(key)
                outputs.parameters[key] = (
                    OutputParameter(type=spec.type, default=default)
                    if key in self.output_parameter_default
                    else OutputParameter(type=spec.type)
                )
        self.inputs, self.outputs = inputs, outputs
        self.input_sign, self.output_sign = in_sign, out_sign

    def _check_slices(self, slices: Slices) -> None:
        op = op_display_name(self.op_class)
        for name in slices.input_parameter:
            if name not in self.inputs.parameters:
                raise SpecError(f"Slices of OP {op}: input_parameter {name!r} is not an input parameter")
        for name in slices.input_artifact:
            if name not in self.inputs.artifacts:
                raise SpecError(f"Slices of OP {op}: input_artifact {name!r} is not an input artifact")
        for name in slices.output_parameter:
            if name not in self.outputs.parameters:
                raise SpecError(f"Slices of OP {op}: output_parameter {name!r} is not an output parameter")
        for name in slices.output_artifact:
            if name not in self.outputs.artifacts:
                raise SpecError(f"Slices of OP {op}: output_artifact {name!r} is not an output artifact")
