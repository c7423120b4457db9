"""The Dflow modules that only make sense on Argo, Kubernetes or Bohrium.

Every public name still imports, so a project importing them at module level loads; using
one raises NotSupported naming the hpcflow alternative. A few plain helpers in these modules
(``ArgoObjectDict``, ``update_dict``...) are implemented all the same.
"""

from __future__ import annotations

from hpcflow.compat.entries import ARGO, BOHRIUM, DFLOW_INTERNAL, K8S, Unsupported, Value

_H = "hpcflow.compat.helpers"
_QUERY = "Workflow.query_step() and the StepInfo objects it returns (dflow.ArgoStep)"
_SLURM = ("a Slurm site (scheduler = \"slurm\" in the site file), or DispatcherExecutor with "
          "context_type LocalContext and batch_type Slurm")
_BOHRIUM_EXEC = "a Slurm site file, or DispatcherExecutor with LocalContext and batch_type Slurm"
_STORE = "upload_artifact / download_artifact with the site's [storage] (shared filesystem or S3)"


def _fn(why: str, instead: str) -> Unsupported:
    return Unsupported(why, instead, kind="function")


def _settings() -> Value:
    return Value(dict)


ARGO_OBJECTS = {
    "logger": Value(lambda: __import__("logging").getLogger("dflow.argo_objects")),
    "ArgoObjectDict": f"{_H}:ObjectDict",
    "ArgoObjectList": Value(lambda: list),
    "ArgoParameter": Unsupported(ARGO, _QUERY),
    "ArgoStep": "hpcflow.dsl.query:StepInfo",
    "max_k8s_resource_name_length": Value(lambda: 253),
    "k8s_naming_hash_length": Value(lambda: 8),
    "FNV_32_PRIME": Value(lambda: 0x01000193),
    "FNV1_32_INIT": Value(lambda: 0x811C9DC5),
    "get_hash": _fn(K8S, "the step's path (StepInfo.path); hpcflow has no pods"),
    "get_pod_name": _fn(K8S, "the step's path (StepInfo.path); hpcflow has no pods"),
    "fnva": _fn(K8S, "hashlib; hpcflow has no pod names to hash"),
    "ArgoWorkflow": Unsupported(ARGO, "Workflow(id=...) with query_status() / query_step()"),
    "get_duration": _fn(ARGO, "StepInfo.startedAt and StepInfo.finishedAt"),
    "match": f"{_H}:match_step_name",
}

_CLIENT_CLASSES = ("V1alpha1Artifact", "V1alpha1LifecycleHook", "V1alpha1Parameter",
                   "V1alpha1RetryStrategy", "V1alpha1Sequence", "V1alpha1ValueFrom",
                   "V1alpha1WorkflowStep", "V1alpha1DAGTask", "V1alpha1Template")
_ARGO_MODEL = Unsupported("is a model of Argo's REST API", "hpcflow's DSL (Step, Steps, DAG, templates)")
CLIENT: dict[str, dict[str, object]] = {
    "dflow.client": {name: _ARGO_MODEL for name in _CLIENT_CLASSES},
    **{f"dflow.client.{module}": {name: f"dflow.client:{name}"} for module, name in (
        ("v1alpha1_artifact", "V1alpha1Artifact"), ("v1alpha1_dag_task", "V1alpha1DAGTask"),
        ("v1alpha1_lifecycle_hook", "V1alpha1LifecycleHook"),
        ("v1alpha1_parameter", "V1alpha1Parameter"),
        ("v1alpha1_retry_strategy", "V1alpha1RetryStrategy"),
        ("v1alpha1_sequence", "V1alpha1Sequence"), ("v1alpha1_template", "V1alpha1Template"),
        ("v1alpha1_value_from", "V1alpha1ValueFrom"),
        ("v1alpha1_workflow_step", "V1alpha1WorkflowStep"))},
}

_CLI = _fn("is the command-line client of an Argo server", "the hpcflow command (hpcflow list / show / logs / cancel / retry)")

PLATFORM: dict[str, dict[str, object]] = {
    "dflow.argo_objects": ARGO_OBJECTS,
    **CLIENT,
    "dflow.code_gen": {
        "CodeGenerator": Unsupported("turns Argo workflow manifests into Dflow code", "the workflow's Python script"),
        "gen_code": _fn("turns Argo workflow manifests into Dflow code", "the workflow's Python script"),
    },
    "dflow.context": {"Context": Unsupported(ARGO, "an Executor (hpcflow.dsl.executor.Executor) on the step")},
    "dflow.context_syntax": {
        "dflow": Value(lambda: __import__("importlib").import_module("dflow")),
        "GLOBAL_CONTEXT": Value(lambda: None),
        "Range_Context": Unsupported(DFLOW_INTERNAL, "`with Workflow()` / `with Steps()` blocks, which hpcflow supports"),
        "GLOBAL_RANGE_CONTEXT": Value(lambda: None),
    },
    "dflow.main": {name: _CLI for name in ("main_parser", "parse_args", "format_print_table",
                                           "format_time_delta", "main")},
    "dflow.resource": {"Resource": Unsupported(K8S, "a PythonOPTemplate whose OP does the work")},
    "dflow.slurm": {
        "SlurmJob": Unsupported("runs Slurm jobs through Kubernetes (wlm-operator)", _SLURM),
        "SlurmJobTemplate": Unsupported("runs Slurm jobs through Kubernetes (wlm-operator)", _SLURM),
        "SlurmRemoteExecutor": Unsupported("submits to Slurm over SSH from an Argo pod", _SLURM),
    },
    "dflow.util_ops": {name: Unsupported(DFLOW_INTERNAL, "continue_on_num_success / continue_on_success_ratio on the step, which hpcflow's engine applies")
                       for name in ("InitArtifactForSlices", "CheckNumSuccess", "CheckSuccessRatio")},
    "dflow.plugins.bohrium": {
        "succ_code": Value(lambda: [0, "0000"]),
        "config": _settings(),
        "login": _fn(BOHRIUM, _BOHRIUM_EXEC),
        "update_headers": _fn(BOHRIUM, _BOHRIUM_EXEC),
        "create_job_group": _fn(BOHRIUM, _BOHRIUM_EXEC),
        "BohriumExecutor": Unsupported(BOHRIUM, _BOHRIUM_EXEC),
        "BohriumContext": Unsupported(BOHRIUM, _BOHRIUM_EXEC),
        "TiefblueClient": Unsupported(BOHRIUM, _STORE),
        "BohriumDatasetsArtifact": Unsupported(BOHRIUM, _STORE),
    },
    "dflow.plugins.datasets": {
        "wait_for_mount": _fn(BOHRIUM, "files on the cluster's shared filesystem"),
        "config": _settings(),
        "DatasetsArtifact": Unsupported(BOHRIUM, "files on the cluster's shared filesystem, passed with upload_artifact"),
    },
    "dflow.plugins.launching": {name: _fn("builds Bohrium app launchers from OPs", "a script that builds and submits the workflow")
                                for name in ("OP_template_to_parser", "python_OP_to_parser", "OP_to_parser")},
    "dflow.plugins.lebesgue": {
        "succ_code": Value(lambda: [0, "0000"]),
        "LebesgueExecutor": Unsupported(BOHRIUM, _BOHRIUM_EXEC),
        "LebesgueContext": Unsupported(BOHRIUM, _BOHRIUM_EXEC),
    },
    "dflow.plugins.metadata": {
        "config": _settings(),
        "MetadataClient": Unsupported(BOHRIUM, "hpcflow's record of each step's inputs and outputs (hpcflow show ID --json)"),
    },
    "dflow.plugins.oss": {
        "OSSClient": Unsupported("stores artifacts in Aliyun OSS through Argo's artifact repository", "an S3 site storage ([storage] kind = \"s3\")"),
    },
    "dflow.plugins.ray": {
        "RayClusterExecutor": Unsupported("runs steps on a Ray cluster inside Kubernetes", "Slices with group_size / pool_size on a Slurm site"),
    },
}
