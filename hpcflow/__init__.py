"""hpcflow: a Slurm/HPC-native workflow manager with Dflow's programming model.

``from hpcflow import Workflow, Step, Steps, DAG, Task, ...`` mirrors ``dflow``; the OP API
is in :mod:`hpcflow.python`.
"""

import importlib
from typing import Any, cast

from hpcflow.node_settings import dflow_options as _dflow_options

#: Public names and the modules that define them, imported on first use so that a job
#: importing ``hpcflow.python.op`` does not pay for the whole DSL.
_EXPORTS = {
    "download_artifact": "hpcflow.dsl.artifacts", "upload_artifact": "hpcflow.dsl.artifacts",
    "DAG": "hpcflow.dsl.containers", "Steps": "hpcflow.dsl.containers",
    "InputArtifact": "hpcflow.dsl.io", "InputParameter": "hpcflow.dsl.io", "Inputs": "hpcflow.dsl.io",
    "OutputArtifact": "hpcflow.dsl.io", "OutputParameter": "hpcflow.dsl.io", "Outputs": "hpcflow.dsl.io",
    "argo_enumerate": "hpcflow.dsl.refs", "argo_len": "hpcflow.dsl.refs",
    "argo_range": "hpcflow.dsl.refs", "argo_sequence": "hpcflow.dsl.refs",
    "if_expression": "hpcflow.dsl.refs",
    "Step": "hpcflow.dsl.step", "Task": "hpcflow.dsl.step",
    "PythonScriptOPTemplate": "hpcflow.dsl.templates", "ShellOPTemplate": "hpcflow.dsl.templates",
    "OPTemplate": "hpcflow.dsl.templates",
    "Workflow": "hpcflow.dsl.workflow", "HpcflowError": "hpcflow.errors",
    "StoredArtifact": "hpcflow.spec.build", "Executor": "hpcflow.dsl.executor",
    "argo_sum": "hpcflow.dsl.refs", "argo_concat": "hpcflow.dsl.refs",
}
_ALIASES = {"S3Artifact": "StoredArtifact", "LocalArtifact": "StoredArtifact"}


def __getattr__(name: str) -> Any:
    target = _ALIASES.get(name, name)
    module = _EXPORTS.get(target)
    if module is None:
        raise AttributeError(f"module 'hpcflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), target)
    globals()[name] = value
    return value


__version__ = "0.1.0"

#: Dflow's settings; ``mode`` "debug" (also from Dflow's $DFLOW_MODE) makes submit() block.
config: dict[str, object] = {"mode": _dflow_options().mode}
s3_config: dict[str, object] = {}


def set_config(**kwargs: object) -> None:
    """Dflow compatibility: settings are accepted and recorded; hpcflow reads its site file."""
    config.update(kwargs)


def query_workflows(**filters: object) -> list[dict[str, object]]:
    from hpcflow.client import get_client

    workflows: list[dict[str, object]] = get_client().store.list_workflows(
        status=cast("str | None", filters.get("phase")))  # Dflow passes phase as a string
    return workflows


if _dflow_options().alias:
    # A process started by `hpcflow exec` (or a job of a workflow it submitted): `import
    # dflow` resolves to hpcflow here too, whichever of the two was imported first.
    from hpcflow.compat.alias import install_from_environment

    install_from_environment()

__all__ = [
    "DAG", "Executor", "HpcflowError", "InputArtifact", "InputParameter", "Inputs", "LocalArtifact",
    "OPTemplate",
    "OutputArtifact", "OutputParameter", "Outputs", "PythonScriptOPTemplate", "S3Artifact",
    "ShellOPTemplate", "Step", "Steps", "StoredArtifact", "Task", "Workflow", "argo_concat", "argo_enumerate",
    "argo_len", "argo_range", "argo_sequence", "argo_sum", "config", "download_artifact", "if_expression",
    "query_workflows", "s3_config", "set_config", "upload_artifact",
]
