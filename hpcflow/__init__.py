"""hpcflow: a Slurm/HPC-native workflow manager with Dflow's programming model.

``from hpcflow import Workflow, Step, Steps, DAG, Task, ...`` mirrors ``dflow``; the OP API
is in :mod:`hpcflow.python`.
"""

from hpcflow.dsl.artifacts import download_artifact, upload_artifact
from hpcflow.dsl.containers import DAG, Steps
from hpcflow.dsl.io import (
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
)
from hpcflow.dsl.refs import argo_enumerate, argo_len, argo_range, argo_sequence, if_expression
from hpcflow.dsl.step import Step, Task
from hpcflow.dsl.templates import PythonScriptOPTemplate, ShellOPTemplate
from hpcflow.dsl.workflow import Workflow
from hpcflow.errors import HpcflowError
from hpcflow.spec.build import StoredArtifact

S3Artifact = StoredArtifact
LocalArtifact = StoredArtifact

__version__ = "0.1.0"

config: dict[str, object] = {"mode": "default"}
s3_config: dict[str, object] = {}


def set_config(**kwargs: object) -> None:
    """Dflow compatibility: settings are accepted and recorded; hpcflow reads its site file."""
    config.update(kwargs)


def query_workflows(**filters: object) -> list[dict[str, object]]:
    from hpcflow.client import get_client

    return get_client().store.list_workflows(status=filters.get("phase"))  # type: ignore[arg-type]


__all__ = [
    "DAG", "HpcflowError", "InputArtifact", "InputParameter", "Inputs", "LocalArtifact",
    "OutputArtifact", "OutputParameter", "Outputs", "PythonScriptOPTemplate", "S3Artifact",
    "ShellOPTemplate", "Step", "Steps", "StoredArtifact", "Task", "Workflow", "argo_enumerate",
    "argo_len", "argo_range", "argo_sequence", "config", "download_artifact", "if_expression",
    "query_workflows", "s3_config", "set_config", "upload_artifact",
]
