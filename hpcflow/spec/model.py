"""The workflow spec: the typed contract between the DSL, the engine and the node.

A compiled workflow is a tree of frozen records (:mod:`hpcflow.frozen`, cheap to import
for the jobs that read their task record): :class:`WorkflowSpec` holds named
templates (:class:`OPTemplateSpec` for what runs in a job, :class:`ContainerTemplateSpec`
for Steps and DAGs), which hold :class:`StepSpec` calls of other templates. Every value a
step passes is a :data:`Value`: a literal, a ``{{...}}`` template string to evaluate, a
list or dict of values, or an artifact already in storage.

The store keeps ``spec.to_json()``; :meth:`WorkflowSpec.from_json` reads it back, and
rejects a spec written by a newer hpcflow with a message naming both versions. The JSON
field names are those of spec version 1, so workflows stored before the model existed
load unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Union

from hpcflow.errors import SpecError
from hpcflow.frozen import field, frozen

SPEC_VERSION = 3
#: Versions this hpcflow reads (1: before the typed model; the same JSON, fewer fields;
#: 3 adds ``fuse`` on Steps templates, absent when false).
READABLE_VERSIONS = (1, 2, 3)

# ----------------------------------------------------------------------------- values


@frozen
class LiteralValue:
    """A value known when the workflow was built (codec-encoded JSON)."""

    value: Any


@frozen
class TemplateValue:
    """A string with ``{{...}}`` placeholders, evaluated when the step is instantiated."""

    text: str


@frozen
class ListValue:
    items: tuple[Value, ...]


@frozen
class DictValue:
    items: Mapping[str, Value]


@frozen
class StoredArtifactValue:
    """An artifact already in storage (what ``upload_artifact`` returns)."""

    location: Any


Value = Union[LiteralValue, TemplateValue, ListValue, DictValue, StoredArtifactValue]


def value_to_json(value: Value) -> dict[str, Any]:
    if isinstance(value, LiteralValue):
        return {"v": value.value}
    if isinstance(value, TemplateValue):
        return {"t": value.text}
    if isinstance(value, ListValue):
        return {"l": [value_to_json(v) for v in value.items]}
    if isinstance(value, DictValue):
        return {"d": {k: value_to_json(v) for k, v in value.items.items()}}
    return {"art": value.location}


def value_from_json(data: Any) -> Value:
    if not isinstance(data, dict) or len(data) != 1:
        raise SpecError(f"malformed value in spec: {data!r:.80}")
    (tag, content), = data.items()
    if tag == "v":
        return LiteralValue(content)
    if tag == "t":
        return TemplateValue(str(content))
    if tag == "l":
        return ListValue(tuple(value_from_json(v) for v in content))
    if tag == "d":
        return DictValue({str(k): value_from_json(v) for k, v in content.items()})
    if tag == "art":
        return StoredArtifactValue(content)
    raise SpecError(f"malformed value in spec: unknown tag {tag!r}")


def _opt_value(data: Any) -> Value | None:
    return None if data is None else value_from_json(data)


def _opt_json(value: Value | None) -> dict[str, Any] | None:
    return None if value is None else value_to_json(value)


# ---------------------------------------------------------------------- inputs, outputs


@frozen
class InputParameterSpec:
    type: str | None = None
    default: Value | None = None


@frozen
class InputArtifactSpec:
    optional: bool = False
    #: Where a shell or script template reads it (relative to its working directory).
    path: str | None = None


@frozen
class InputsSpec:
    parameters: Mapping[str, InputParameterSpec] = field(default_factory=dict)
    artifacts: Mapping[str, InputArtifactSpec] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for k, p in self.parameters.items():
            params[k] = {"type": p.type}
            if p.default is not None:
                params[k]["default"] = value_to_json(p.default)
        arts = {k: {"optional": a.optional, "path": a.path} for k, a in self.artifacts.items()}
        return {"parameters": params, "artifacts": arts}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputsSpec:
        return cls(
            {k: InputParameterSpec(p.get("type"), _opt_value(p.get("default")))
             for k, p in data.get("parameters", {}).items()},
            {k: InputArtifactSpec(bool(a.get("optional")), a.get("path"))
             for k, a in data.get("artifacts", {}).items()},
        )


@frozen
class OutputParameterSpec:
    #: Shell/script templates: read the value from this file (trimmed).
    value_from_path: str | None = None
    default: Value | None = None
    #: Steps/DAG templates: the value (``value_from_parameter``/``value_from_expression``).
    source: Value | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.value_from_path is not None or self.source is None:
            out["value_from_path"] = self.value_from_path
        if self.source is not None:
            out["from"] = value_to_json(self.source)
        if self.default is not None:
            out["default"] = value_to_json(self.default)
        return out


@frozen
class OutputArtifactSpec:
    #: Shell/script templates: the file or directory to publish.
    path: str | None = None
    optional: bool = False
    #: Steps/DAG templates: the artifact (``_from``/``from_expression``).
    source: Value | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"optional": self.optional}
        if self.source is not None:
            out["from"] = value_to_json(self.source)
        else:
            out["path"] = self.path
        return out


@frozen
class OutputsSpec:
    parameters: Mapping[str, OutputParameterSpec] = field(default_factory=dict)
    artifacts: Mapping[str, OutputArtifactSpec] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"parameters": {k: p.to_json() for k, p in self.parameters.items()},
                "artifacts": {k: a.to_json() for k, a in self.artifacts.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutputsSpec:
        return cls(
            {k: OutputParameterSpec(p.get("value_from_path"), _opt_value(p.get("default")),
                                    _opt_value(p.get("from")))
             for k, p in data.get("parameters", {}).items()},
            {k: OutputArtifactSpec(a.get("path"), bool(a.get("optional")), _opt_value(a.get("from")))
             for k, a in data.get("artifacts", {}).items()},
        )


# ------------------------------------------------------------------ policies, slices


@frozen
class RetryPolicy:
    """A template's retry settings (the engine's ``decide`` spends them)."""

    on_transient: int = 0  # retry_on_transient_error
    on_failure: int = 0  # retry_on_failure: any failure of the OP but a fatal one
    timeout_is_transient: bool = False  # timeout_as_transient_error


@frozen
class SlicesSpec:
    """Dflow's Slices: which inputs are cut into slices and which outputs are stacked."""

    slices: Value | None = None
    input_parameter: tuple[str, ...] = ()
    input_artifact: tuple[str, ...] = ()
    output_parameter: tuple[str, ...] = ()
    output_artifact: tuple[str, ...] = ()
    sub_path: bool = False
    group_size: int | None = None
    pool_size: int | None = None
    create_dir: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"slices": _opt_json(self.slices), "input_parameter": list(self.input_parameter),
                "input_artifact": list(self.input_artifact),
                "output_parameter": list(self.output_parameter),
                "output_artifact": list(self.output_artifact), "sub_path": self.sub_path,
                "group_size": self.group_size, "pool_size": self.pool_size,
                "create_dir": self.create_dir}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SlicesSpec | None:
        if not data:
            return None
        return cls(_opt_value(data.get("slices")), tuple(data.get("input_parameter") or ()),
                   tuple(data.get("input_artifact") or ()), tuple(data.get("output_parameter") or ()),
                   tuple(data.get("output_artifact") or ()), bool(data.get("sub_path")),
                   data.get("group_size"), data.get("pool_size"), bool(data.get("create_dir")))


# ---------------------------------------------------------------------------- templates

OPKind = Literal["python", "shell", "script"]
ContainerKind = Literal["steps", "dag"]


@frozen
class OPTemplateSpec:
    """What runs in one job: a Python OP, a shell script or a Python script."""

    kind: OPKind
    name: str
    inputs: InputsSpec
    outputs: OutputsSpec
    #: Python OPs: ``{"module", "qualname"}`` or a shipped pickle (see spec.build).
    op: Mapping[str, Any] | None = None
    #: Shell/script templates: the script text.
    script: str | None = None
    image: str | None = None
    command: tuple[str, ...] | None = None
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    envs: Mapping[str, str] = field(default_factory=dict)
    #: Normalized resource requests (hpcflow.resources.normalize_resources keys).
    resources: Mapping[str, Any] = field(default_factory=dict)
    python_packages: tuple[str, ...] = ()
    pre_script: str | None = None
    post_script: str | None = None
    slices: SlicesSpec | None = None
    #: Fields written by a newer hpcflow that this one does not know, kept as they were.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "name": self.name, "inputs": self.inputs.to_json(),
            "outputs": self.outputs.to_json(), "image": self.image,
            "command": list(self.command) if self.command is not None else None,
            "timeout": self.timeout, "retry_on_transient_error": self.retry.on_transient,
            "retry_on_failure": self.retry.on_failure,
            "timeout_as_transient_error": self.retry.timeout_is_transient,
            "envs": dict(self.envs), "resources": dict(self.resources),
            "python_packages": list(self.python_packages), "pre_script": self.pre_script,
            "post_script": self.post_script,
            "slices": self.slices.to_json() if self.slices else None,
        }
        if self.op is not None:
            out["op"] = dict(self.op)
        if self.script is not None:
            out["script"] = self.script
        return dict(self.extra) | out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OPTemplateSpec:
        known = _OP_FIELDS
        command = data.get("command")
        return cls(
            kind=data["kind"], name=data["name"], inputs=InputsSpec.from_json(data.get("inputs", {})),
            outputs=OutputsSpec.from_json(data.get("outputs", {})), op=data.get("op"),
            script=data.get("script"), image=data.get("image"),
            command=tuple(command) if command is not None else None, timeout=data.get("timeout"),
            retry=RetryPolicy(data.get("retry_on_transient_error") or 0, data.get("retry_on_failure") or 0,
                              bool(data.get("timeout_as_transient_error"))),
            envs=dict(data.get("envs") or {}), resources=dict(data.get("resources") or {}),
            python_packages=tuple(data.get("python_packages") or ()), pre_script=data.get("pre_script"),
            post_script=data.get("post_script"), slices=SlicesSpec.from_json(data.get("slices")),
            extra={k: v for k, v in data.items() if k not in known},
        )


_OP_FIELDS = frozenset({
    "kind", "name", "inputs", "outputs", "op", "script", "image", "command", "timeout",
    "retry_on_transient_error", "retry_on_failure", "timeout_as_transient_error", "envs",
    "resources", "python_packages", "pre_script", "post_script", "slices",
})


@frozen
class StepSpec:
    """One call of a template inside a Steps group or a DAG."""

    name: str
    template: str
    parameters: Mapping[str, Value] = field(default_factory=dict)
    artifacts: Mapping[str, Value] = field(default_factory=dict)
    when: str | None = None
    key: Value | None = None
    with_param: Value | None = None
    with_sequence: Value | None = None
    continue_on_failed: bool = False
    continue_on_num_success: int | None = None
    continue_on_success_ratio: float | None = None
    parallelism: int | None = None
    slices: SlicesSpec | None = None
    #: DAG tasks: the tasks this one waits for (explicit and inferred from references).
    dependencies: tuple[str, ...] = ()
    #: An executor's description (``Executor.to_spec()``): resources, environment...
    executor: Mapping[str, Any] | None = None
    #: Use the result cache (``None``: the template's choice, else the site's default).
    cache: bool | None = None
    #: Fields this hpcflow does not know (written by a newer one), kept as they were.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        cache = {"cache": self.cache} if self.cache is not None else {}
        return dict(self.extra) | cache | {
            "name": self.name, "template": self.template,
            "parameters": {k: value_to_json(v) for k, v in self.parameters.items()},
            "artifacts": {k: value_to_json(v) for k, v in self.artifacts.items()},
            "when": self.when, "key": _opt_json(self.key), "with_param": _opt_json(self.with_param),
            "with_sequence": _opt_json(self.with_sequence),
            "continue_on_failed": self.continue_on_failed,
            "continue_on_num_success": self.continue_on_num_success,
            "continue_on_success_ratio": self.continue_on_success_ratio,
            "parallelism": self.parallelism, "slices": self.slices.to_json() if self.slices else None,
            "dependencies": list(self.dependencies),
            "executor": dict(self.executor) if self.executor is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepSpec:
        return cls(
            name=data["name"], template=data["template"],
            parameters={k: value_from_json(v) for k, v in data.get("parameters", {}).items()},
            artifacts={k: value_from_json(v) for k, v in data.get("artifacts", {}).items()},
            when=data.get("when"), key=_opt_value(data.get("key")),
            with_param=_opt_value(data.get("with_param")),
            with_sequence=_opt_value(data.get("with_sequence")),
            continue_on_failed=bool(data.get("continue_on_failed")),
            continue_on_num_success=data.get("continue_on_num_success"),
            continue_on_success_ratio=data.get("continue_on_success_ratio"),
            parallelism=data.get("parallelism"), slices=SlicesSpec.from_json(data.get("slices")),
            dependencies=tuple(data.get("dependencies") or ()), executor=data.get("executor"),
            cache=data.get("cache"),
            extra={k: v for k, v in data.items() if k not in _STEP_FIELDS},
        )


_STEP_FIELDS = frozenset({
    "name", "template", "parameters", "artifacts", "when", "key", "with_param", "with_sequence",
    "continue_on_failed", "continue_on_num_success", "continue_on_success_ratio", "parallelism",
    "slices", "dependencies", "executor", "cache",
})


@frozen
class ContainerTemplateSpec:
    """A Steps template (sequential groups of parallel steps) or a DAG (tasks)."""

    kind: ContainerKind
    name: str
    inputs: InputsSpec
    outputs: OutputsSpec
    #: Steps: the groups in order; DAG: one group holding every task.
    groups: tuple[tuple[StepSpec, ...], ...] = ()
    parallelism: int | None = None
    #: Steps only: run consecutive compatible OP steps inside one job (``Steps(fuse=True)``).
    fuse: bool = False

    @property
    def steps(self) -> tuple[StepSpec, ...]:
        """Every step (or task) of the template, in order."""
        return tuple(s for group in self.groups for s in group)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "inputs": self.inputs.to_json(),
                               "outputs": self.outputs.to_json(), "parallelism": self.parallelism}
        if self.kind == "steps":
            out["groups"] = [[s.to_json() for s in g] for g in self.groups]
            if self.fuse:
                out["fuse"] = True
        else:
            out["tasks"] = [s.to_json() for s in self.steps]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerTemplateSpec:
        if data["kind"] == "steps":
            groups = tuple(tuple(StepSpec.from_json(s) for s in g) for g in data.get("groups", []))
        else:
            groups = (tuple(StepSpec.from_json(s) for s in data.get("tasks", [])),)
        return cls(data["kind"], data["name"], InputsSpec.from_json(data.get("inputs", {})),
                   OutputsSpec.from_json(data.get("outputs", {})), groups, data.get("parallelism"),
                   bool(data.get("fuse")))


TemplateSpec = Union[OPTemplateSpec, ContainerTemplateSpec]


def template_from_json(data: Mapping[str, Any]) -> TemplateSpec:
    if data.get("kind") in ("steps", "dag"):
        return ContainerTemplateSpec.from_json(data)
    if data.get("kind") in ("python", "shell", "script"):
        return OPTemplateSpec.from_json(data)
    raise SpecError(f"template {data.get('name')!r} has unknown kind {data.get('kind')!r}")


@frozen
class WorkflowSpec:
    """A whole compiled workflow: what the store keeps and the engine interprets."""

    name: str
    entrypoint: str
    templates: Mapping[str, TemplateSpec]
    parameters: Mapping[str, Value] = field(default_factory=dict)
    version: int = SPEC_VERSION

    def template(self, name: str) -> TemplateSpec:
        return self.templates[name]

    def op_template(self, name: str) -> OPTemplateSpec:
        tmpl = self.templates[name]
        if not isinstance(tmpl, OPTemplateSpec):
            raise SpecError(f"template {name!r} is a {tmpl.kind} template, not an OP")
        return tmpl

    def to_json(self) -> dict[str, Any]:
        return {"version": SPEC_VERSION, "name": self.name, "entrypoint": self.entrypoint,
                "parameters": {k: value_to_json(v) for k, v in self.parameters.items()},
                "templates": {k: t.to_json() for k, t in self.templates.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowSpec:
        version = data.get("version", 1)
        if version not in READABLE_VERSIONS:
            raise SpecError(
                f"workflow {data.get('name')!r} was stored with spec version {version}; this "
                f"hpcflow reads versions {', '.join(map(str, READABLE_VERSIONS))} (spec version "
                f"{SPEC_VERSION}): upgrade hpcflow to run it"
            )
        return cls(
            name=data["name"], entrypoint=data["entrypoint"],
            templates={k: template_from_json(t) for k, t in data["templates"].items()},
            parameters={k: value_from_json(v) for k, v in (data.get("parameters") or {}).items()},
            version=version,
        )


# ------------------------------------------------------------------------- task record


@frozen
class TaskRecord:
    """What one unit's job reads (``task.json``): the OP template it runs, with the step's
    executor environment merged in, and the unit's resolved inputs."""

    workflow: str
    step: str
    template: OPTemplateSpec
    #: Codec-encoded parameter values and artifact paths (or ``s3://`` URIs), by input name.
    parameters: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, Any] = field(default_factory=dict)
    slice_index: int | None = None
    #: The OP reference: ``{"module", "qualname"}`` or ``{"pickle_file", "name", "python"}``.
    op: Mapping[str, Any] | None = None
    #: Hash records of input artifact paths (checked before the OP starts).
    input_hashes: Mapping[str, Any] = field(default_factory=dict)
    #: The site's S3 store (endpoint and bucket, never credentials) and this unit's prefix.
    storage: Mapping[str, Any] | None = None
    artifact_prefix: str | None = None
    #: Inputs the engine could not know when it wrote the record: ``{"parameters" |
    #: "artifacts": {name: source}}``, resolved by ``hpcflow.runtime.deferred`` when the
    #: unit starts (a source names the producers' attempt directories).
    deferred: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @staticmethod
    def template_json(template: OPTemplateSpec) -> dict[str, Any]:
        out = template.to_json()
        out.pop("op", None)  # carried apart, as a file reference
        return out

    def to_json(self, template_json: dict[str, Any] | None = None) -> dict[str, Any]:
        """The record's JSON; ``template_json`` (``template_json(self.template)``, shared by
        the slices of a fan-out) saves building it again for each unit."""
        template = template_json if template_json is not None else self.template_json(self.template)
        out: dict[str, Any] = {"workflow": self.workflow, "step": self.step, "template": template,
                               "parameters": dict(self.parameters), "artifacts": dict(self.artifacts),
                               "slice_index": self.slice_index}
        if self.op is not None:
            out["op"] = dict(self.op)
        if self.input_hashes:
            out["input_hashes"] = dict(self.input_hashes)
        if self.storage is not None:
            out["storage"] = dict(self.storage)
            out["artifact_prefix"] = self.artifact_prefix
        if self.deferred:
            out["deferred"] = {k: dict(v) for k, v in self.deferred.items()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskRecord:
        return cls(workflow=data.get("workflow", ""), step=data.get("step", ""),
                   template=OPTemplateSpec.from_json(data["template"]),
                   parameters=dict(data.get("parameters") or {}), artifacts=dict(data.get("artifacts") or {}),
                   slice_index=data.get("slice_index"), op=data.get("op"),
                   input_hashes=dict(data.get("input_hashes") or {}), storage=data.get("storage"),
                   artifact_prefix=data.get("artifact_prefix"),
                   deferred=dict(data.get("deferred") or {}))
