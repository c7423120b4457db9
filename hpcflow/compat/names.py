"""The Dflow modules hpcflow implements: each public name of pydflow 1.8.134 and its target.

Targets are ``"module:attr"`` strings (hpcflow's own object), ``"dflow.x:Name"`` (the same
entry of another Dflow module) or :class:`Unsupported` entries for the few names in these
modules that only make sense on Argo or Kubernetes.
"""

from __future__ import annotations

from hpcflow.compat.entries import ARGO, ARGO_STORE, DFLOW_INTERNAL, K8S, SSH, Unsupported, Value

_U = "hpcflow.compat.utils"
_H = "hpcflow.compat.helpers"
_CONTAINER = ("the step's image= with the site's [containers] runtime (Apptainer, Singularity "
              "or Charliecloud)")
_STORE = "upload_artifact / download_artifact with the site's [storage] (shared filesystem or S3)"


def _fn(why: str, instead: str) -> Unsupported:
    return Unsupported(why, instead, kind="function")


_INTERNAL_FN = _fn(DFLOW_INTERNAL, "hpcflow's engine and runtime, which do this themselves")
_INTERNAL_CLS = Unsupported(DFLOW_INTERNAL, "hpcflow's engine and runtime, which do this themselves")

DFLOW: dict[str, object] = {
    "S3Artifact": "hpcflow.spec.build:StoredArtifact",
    "DAG": "hpcflow.dsl.containers:DAG",
    "Executor": "hpcflow.dsl.executor:Executor",
    "RemoteExecutor": "dflow.executor:RemoteExecutor",
    "AutonamedDict": "dflow.io:AutonamedDict",
    "IfExpression": "hpcflow.dsl.refs:Expr",
    "InputArtifact": "hpcflow.dsl.io:InputArtifact",
    "InputParameter": "hpcflow.dsl.io:InputParameter",
    "Inputs": "hpcflow.dsl.io:Inputs",
    "OutputArtifact": "hpcflow.dsl.io:OutputArtifact",
    "OutputParameter": "hpcflow.dsl.io:OutputParameter",
    "Outputs": "hpcflow.dsl.io:Outputs",
    "if_expression": "hpcflow.dsl.refs:if_expression",
    "OPTemplate": "hpcflow.dsl.templates:OPTemplate",
    "PythonScriptOPTemplate": "hpcflow.dsl.templates:PythonScriptOPTemplate",
    "ShellOPTemplate": "hpcflow.dsl.templates:ShellOPTemplate",
    "Resource": "dflow.resource:Resource",
    "SlurmJob": "dflow.slurm:SlurmJob",
    "SlurmJobTemplate": "dflow.slurm:SlurmJobTemplate",
    "SlurmRemoteExecutor": "dflow.slurm:SlurmRemoteExecutor",
    "Step": "hpcflow.dsl.step:Step",
    "argo_len": "hpcflow.dsl.refs:argo_len",
    "argo_range": "hpcflow.dsl.refs:argo_range",
    "argo_sequence": "hpcflow.dsl.refs:argo_sequence",
    "Steps": "hpcflow.dsl.containers:Steps",
    "Task": "hpcflow.dsl.step:Task",
    "copy_artifact": "dflow.utils:copy_artifact",
    "copy_s3": "dflow.utils:copy_s3",
    "download_artifact": "hpcflow.dsl.artifacts:download_artifact",
    "download_s3": "dflow.utils:download_s3",
    "path_list_of_artifact": f"{_U}:path_list_of_artifact",
    "s3_config": "hpcflow:s3_config",
    "upload_artifact": "hpcflow.dsl.artifacts:upload_artifact",
    "upload_s3": "dflow.utils:upload_s3",
    "Workflow": "hpcflow.dsl.workflow:Workflow",
    "config": "hpcflow:config",
    "Context": "dflow.context:Context",
    "randstr": f"{_U}:randstr",
    "LocalArtifact": "hpcflow.spec.build:StoredArtifact",
    "set_config": "hpcflow:set_config",
    "set_s3_config": f"{_H}:set_s3_config",
    "DockerSecret": "dflow.workflow:DockerSecret",
    "argo_sum": "hpcflow.dsl.refs:argo_sum",
    "argo_concat": "hpcflow.dsl.refs:argo_concat",
    "LineageClient": "dflow.common:LineageClient",
    "Secret": "dflow.op_template:Secret",
    "query_workflows": "hpcflow:query_workflows",
    "query_archived_workflows": "dflow.workflow:query_archived_workflows",
    "ContainerExecutor": "dflow.executor:ContainerExecutor",
    "ArgoStep": "hpcflow.dsl.query:StepInfo",
    "ArgoWorkflow": "dflow.argo_objects:ArgoWorkflow",
    "argo_enumerate": "hpcflow.dsl.refs:argo_enumerate",
    "path_object_of_artifact": f"{_U}:path_object_of_artifact",
    "CustomArtifact": "dflow.common:CustomArtifact",
    "gen_code": "dflow.code_gen:gen_code",
    "jsonpickle": "jsonpickle",
    "HTTPArtifact": "dflow.common:HTTPArtifact",
    "HookStep": "dflow.step:HookStep",
    "HTTPOPTemplate": "dflow.op_template:HTTPOPTemplate",
}

CONFIG: dict[str, object] = {
    "boolize": f"{_H}:boolize",
    "nullable": f"{_H}:nullable",
    "split_headers": f"{_H}:split_headers",
    "config": "hpcflow:config",
    "set_config": "hpcflow:set_config",
    "s3_config": "hpcflow:s3_config",
    "set_s3_config": f"{_H}:set_s3_config",
}

UTILS: dict[str, object] = {
    "TempDir": f"{_U}:TempDir",
    "get_key": f"{_H}:get_key",
    "set_key": f"{_H}:set_key",
    "download_artifact": "hpcflow.dsl.artifacts:download_artifact",
    "flatten": f"{_H}:flatten",
    "dict2list": f"{_H}:dict2list",
    "expand": f"{_H}:expand",
    "upload_artifact": "hpcflow.dsl.artifacts:upload_artifact",
    "copy_artifact": _fn(ARGO_STORE, "upload_artifact(download_artifact(art))"),
    "get_md5": f"{_U}:get_md5",
    "download_s3": _fn(ARGO_STORE, _STORE),
    "upload_s3": _fn(ARGO_STORE, _STORE),
    "copy_s3": _fn(ARGO_STORE, _STORE),
    "catalog_of_artifact": _fn(ARGO_STORE, "path_list_of_artifact(art)"),
    "path_list_of_artifact": f"{_U}:path_list_of_artifact",
    "path_object_of_artifact": f"{_U}:path_object_of_artifact",
    "force_move": f"{_U}:force_move",
    "merge_dir": f"{_U}:merge_dir",
    "try_link": f"{_U}:try_link",
    "link": f"{_U}:link",
    "copy_file": f"{_U}:copy_file",
    "append_item": _fn(ARGO_STORE, "path_object_of_artifact(art)"),
    "catalog_of_local_artifact": _fn(ARGO_STORE, "path_object_of_artifact(art)"),
    "assemble_path_object_from_catalog": _fn(ARGO_STORE, "path_object_of_artifact(art)"),
    "assemble_path_object": _fn(ARGO_STORE, "path_object_of_artifact(art)"),
    "convert_dflow_list": _INTERNAL_FN,
    "remove_empty_dir_tag": f"{_U}:remove_empty_dir_tag",
    "randstr": f"{_U}:randstr",
    "set_directory": f"{_U}:set_directory",
    "run_command": f"{_U}:run_command",
    "subclass_or_none": f"{_H}:subclass_or_none",
    "find_subclass": f"{_H}:find_subclass",
    "linktree": f"{_U}:linktree",
    "force_link": f"{_U}:force_link",
    "StorageClient": "hpcflow.storage.base:StorageClient",
    "MinioClient": Unsupported(ARGO_STORE, "an S3 site storage ([storage] kind = \"s3\"), which works with MinIO"),
    "ArtifactStr": f"{_H}:ArtifactStr",
    "ArtifactPosixPath": f"{_H}:ArtifactPosixPath",
    "ArtifactWindowsPath": f"{_H}:ArtifactWindowsPath",
    "ArtifactList": f"{_H}:ArtifactList",
    "ArtifactSet": f"{_H}:ArtifactSet",
    "ArtifactDict": f"{_H}:ArtifactDict",
    "artifact_classes": f"{_H}:artifact_classes",
    "Variable": f"{_H}:Variable",
    "evalable_repr": f"{_H}:evalable_repr",
    "ProcessPoolExecutor": f"{_U}:ProcessPoolExecutor",
}

IO: dict[str, object] = {
    "type_to_str": f"{_H}:type_to_str",
    "ObjectDict": f"{_H}:ObjectDict",
    "to_expr": "hpcflow.dsl.refs:to_expr",
    "Expression": "hpcflow.dsl.refs:Expr",
    "AutonamedDict": "hpcflow.dsl.io:NamedDict",
    "InputParameters": "hpcflow.dsl.io:NamedDict",
    "InputArtifacts": "hpcflow.dsl.io:NamedDict",
    "OutputParameters": "hpcflow.dsl.io:NamedDict",
    "OutputArtifacts": "hpcflow.dsl.io:NamedDict",
    "ArgoVar": "hpcflow.dsl.refs:Ref",
    "IfExpression": "hpcflow.dsl.refs:Expr",
    "if_expression": "hpcflow.dsl.refs:if_expression",
    "PVC": Unsupported(K8S, "artifacts on the shared filesystem (the site's work_root)"),
    "convert_value_to_str": _INTERNAL_FN,
    "InputParameter": "hpcflow.dsl.io:InputParameter",
    "InputArtifact": "hpcflow.dsl.io:InputArtifact",
    "OutputParameter": "hpcflow.dsl.io:OutputParameter",
    "OutputArtifact": "hpcflow.dsl.io:OutputArtifact",
    "Inputs": "hpcflow.dsl.io:Inputs",
    "Outputs": "hpcflow.dsl.io:Outputs",
}

_EXPR = "hpcflow.dsl.refs:Expr"
STEP: dict[str, object] = {
    "ArgoRange": _EXPR, "argo_range": "hpcflow.dsl.refs:argo_range",
    "ArgoSequence": _EXPR, "argo_sequence": "hpcflow.dsl.refs:argo_sequence",
    "ArgoLen": _EXPR, "argo_len": "hpcflow.dsl.refs:argo_len",
    "ArgoEnumerate": _EXPR, "argo_enumerate": "hpcflow.dsl.refs:argo_enumerate",
    "ArgoSum": _EXPR, "argo_sum": "hpcflow.dsl.refs:argo_sum",
    "ArgoConcat": _EXPR, "argo_concat": "hpcflow.dsl.refs:argo_concat",
    "upload_python_packages": _fn(DFLOW_INTERNAL, "python_packages=[...] on the template"),
    "Step": "hpcflow.dsl.step:Step",
    "HookStep": Unsupported(ARGO, "a final step guarded by when= (Argo lifecycle hooks have no Slurm meaning)"),
    **{name: _INTERNAL_FN for name in (
        "render_item", "render_expr", "get_var", "eval_expr", "render_script", "backup",
        "expression", "replace_argo_func", "add_slices", "untar", "download_artifact_debug",
        "download_with_lock")},
}

OP_TEMPLATE: dict[str, object] = {
    "Secret": Unsupported(K8S, "environment variables (envs=) or files readable only by you"),
    "get_k8s_client": _fn(K8S, "the site file; hpcflow talks to Slurm, not Kubernetes"),
    "OPTemplate": "hpcflow.dsl.templates:OPTemplate",
    "HTTPOPTemplate": Unsupported(ARGO, "a PythonOPTemplate whose OP makes the HTTP request"),
    "ScriptOPTemplate": "hpcflow.dsl.templates:OPTemplate",
    "ShellOPTemplate": "hpcflow.dsl.templates:ShellOPTemplate",
    "PythonScriptOPTemplate": "hpcflow.dsl.templates:PythonScriptOPTemplate",
    "ContainerOPTemplate": Unsupported(K8S, "ShellOPTemplate(image=..., script=...)"),
}

EXECUTOR: dict[str, object] = {
    "Executor": "hpcflow.dsl.executor:Executor",
    "run_script": _INTERNAL_FN,
    "render_script_with_tmp_root": _INTERNAL_FN,
    "ContainerExecutor": Unsupported("runs `docker run` inside an Argo pod", _CONTAINER),
    "RemoteExecutor": Unsupported(SSH, "DispatcherExecutor(machine_dict={'context_type': 'SSHContext', "
                                        "'batch_type': 'Slurm', 'remote_root': ..., 'remote_profile': {...}})"),
}

COMMON: dict[str, object] = {
    "CustomHandler": _INTERNAL_CLS,
    "S3Artifact": "hpcflow.spec.build:StoredArtifact",
    "LocalArtifact": "hpcflow.spec.build:StoredArtifact",
    "HTTPArtifact": Unsupported(ARGO, "upload_artifact(path) of the downloaded file"),
    "LineageClient": Unsupported("needs a lineage service registered in Argo", "hpcflow's record of each step's inputs and outputs (hpcflow show ID --json)"),
    "import_func": f"{_H}:import_func",
    "CustomArtifact": Unsupported(ARGO_STORE, _STORE),
    "CustomPickler": _INTERNAL_CLS,
    "jsonpickle": "jsonpickle",
}

PYTHON: dict[str, object] = {
    "OP": "hpcflow.python.op:OP",
    "OPIO": "hpcflow.python.opio:OPIO",
    "Artifact": "hpcflow.python.opio:Artifact",
    "BigParameter": "hpcflow.python.opio:BigParameter",
    "OPIOSign": "hpcflow.python.opio:OPIOSign",
    "Parameter": "hpcflow.python.opio:Parameter",
    "FatalError": "hpcflow.python.op:FatalError",
    "PythonOPTemplate": "hpcflow.python.template:PythonOPTemplate",
    "Slices": "hpcflow.python.template:Slices",
    "TransientError": "hpcflow.python.op:TransientError",
    "upload_packages": "hpcflow.python:upload_packages",
    "NestedDict": "hpcflow.python.opio:NestedDict",
    "HDF5Datasets": "hpcflow.python.opio:HDF5Datasets",
}

PYTHON_OP: dict[str, object] = {
    "iwd": Value(lambda: __import__("os").getcwd()),
    "get_source_code": f"{_H}:get_source_code",
    "OP": "hpcflow.python.op:OP",
    "get_sign_from_func": f"{_H}:get_sign_from_func",
    "type2opiosign": f"{_H}:type2opiosign",
}

PYTHON_OPIO: dict[str, object] = {
    "NestedDictBase": "hpcflow.python.opio:NestedDict",
    "NestedDictStr": f"{_H}:NestedDictStr",
    "NestedDictPath": f"{_H}:NestedDictPath",
    "HDF5Dataset": "hpcflow.python.opio:HDF5Dataset",
    "HDF5Datasets": "hpcflow.python.opio:HDF5Datasets",
    "NestedDict": "hpcflow.python.opio:NestedDict",
    "ArtifactAllowedTypes": f"{_H}:ARTIFACT_ALLOWED_TYPES",
    "Artifact": "hpcflow.python.opio:Artifact",
    "Parameter": "hpcflow.python.opio:Parameter",
    "BigParameter": "hpcflow.python.opio:BigParameter",
    "OPIOSign": "hpcflow.python.opio:OPIOSign",
    "OPIO": "hpcflow.python.opio:OPIO",
}

PYTHON_TEMPLATE: dict[str, object] = {
    "upload_packages": "hpcflow.python:upload_packages",
    "Slices": "hpcflow.python.template:Slices",
    "handle_packages_script": _INTERNAL_FN,
    "PythonOPTemplate": "hpcflow.python.template:PythonOPTemplate",
    "TransientError": "hpcflow.python.op:TransientError",
    "FatalError": "hpcflow.python.op:FatalError",
    "PicklableFunctionOP": _INTERNAL_CLS,
}

PYTHON_UTILS: dict[str, object] = {
    "get_slices": f"{_H}:get_slices",
    "path_or_none": f"{_H}:path_or_none",
    "slice_to_dir": f"{_H}:slice_to_dir",
    **{name: _INTERNAL_FN for name in (
        "handle_input_artifact", "handle_input_parameter", "handle_output_artifact",
        "handle_output_parameter", "copy_results_and_return_path_item", "copy_results",
        "handle_empty_dir", "handle_lineage", "absolutize", "absolutize_hdf5",
        "sigalrm_handler", "try_to_execute", "get_input_slices")},
}

WORKFLOW: dict[str, object] = {
    "logger": Value(lambda: __import__("logging").getLogger("dflow.workflow")),
    "DockerSecret": Unsupported(K8S, "images readable by your user (a .sif file or a Charliecloud image)"),
    "Workflow": "hpcflow.dsl.workflow:Workflow",
    "get_argo_api_client": _fn(ARGO, "the hpcflow CLI (hpcflow list / show / logs)"),
    "query_workflows": "hpcflow:query_workflows",
    "query_archived_workflows": _fn(ARGO, "query_workflows() or hpcflow list; finished workflows stay in the store"),
    "parse_repo": _fn(ARGO, "python_packages=[...] on the template"),
}

CORE: dict[str, dict[str, object]] = {
    "dflow": DFLOW,
    "dflow.config": CONFIG,
    "dflow.utils": UTILS,
    "dflow.io": IO,
    "dflow.step": STEP,
    "dflow.steps": {"Steps": "hpcflow.dsl.containers:Steps"},
    "dflow.dag": {"DAG": "hpcflow.dsl.containers:DAG"},
    "dflow.task": {"Task": "hpcflow.dsl.step:Task"},
    "dflow.workflow": WORKFLOW,
    "dflow.op_template": OP_TEMPLATE,
    "dflow.executor": EXECUTOR,
    "dflow.common": COMMON,
    "dflow.python": PYTHON,
    "dflow.python.op": PYTHON_OP,
    "dflow.python.opio": PYTHON_OPIO,
    "dflow.python.python_op_template": PYTHON_TEMPLATE,
    "dflow.python.utils": PYTHON_UTILS,
    "dflow.plugins": {},
    "dflow.plugins.dispatcher": {
        "update_dict": f"{_H}:update_dict",
        "DispatcherExecutor": "hpcflow.compat.dispatcher:DispatcherExecutor",
        "DispatcherArtifact": Unsupported(SSH, "step artifacts: a step routed over SSH has its outputs "
                                                 "fetched back and its inputs staged"),
    },
}
