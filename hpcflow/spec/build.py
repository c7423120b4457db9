"""Compile DSL objects (templates, steps, workflows) into a frozen JSON workflow spec.

The spec is what the store keeps and the engine interprets: plain dicts and lists, so a
workflow can be resumed by another process. Python OPs are referenced by module path when
importable, or shipped by value (cloudpickle) when defined in the submitting script.
"""

from __future__ import annotations

import base64
import importlib
import platform
import re
from typing import Any, cast

import cloudpickle

from hpcflow import codec
from hpcflow.cache.source import op_source_hash
from hpcflow.dsl.containers import DAG, Steps
from hpcflow.dsl.io import ArtifactSubPath, InputParameter
from hpcflow.dsl.refs import Ref
from hpcflow.dsl.step import Step
from hpcflow.dsl.templates import OPTemplate, PythonScriptOPTemplate, ShellOPTemplate
from hpcflow.errors import ExpressionError, SpecError
from hpcflow.python.opio import type_name
from hpcflow.python.template import PythonOPTemplate, Slices
from hpcflow.resources import normalize_resources
from hpcflow.spec.model import SPEC_VERSION, WorkflowSpec


class StoredArtifact:
    """An artifact value already on storage (what ``upload_artifact`` returns)."""

    def __init__(self, value: Any, key: str | None = None) -> None:
        self.value = value
        self.key = key

    def sub_path(self, path: str) -> StoredArtifact:
        if not isinstance(self.value, str):
            raise SpecError("sub_path needs a single-path artifact")
        return StoredArtifact(self.value.rstrip("/") + "/" + path, self.key)

    def __repr__(self) -> str:
        return f"StoredArtifact({self.value!r})"


def value_spec(value: Any) -> dict[str, Any]:
    """Compile one argument (literal, reference, template string, nested list/dict)."""
    if isinstance(value, StoredArtifact):
        return {"art": value.value}
    if isinstance(value, ArtifactSubPath):
        return {"t": "{{=" + value.expr() + "}}"}
    if isinstance(value, Ref):
        return {"t": str(value)}
    if isinstance(value, str) and "{{" in value:
        return {"t": value}
    if isinstance(value, (list, tuple)) and any(_dynamic(v) for v in value):
        return {"l": [value_spec(v) for v in value]}
    if isinstance(value, dict) and any(_dynamic(v) for v in value.values()):
        return {"d": {str(k): value_spec(v) for k, v in value.items()}}
    return {"v": codec.encode(value)}


def _dynamic(value: Any) -> bool:
    if isinstance(value, (Ref, StoredArtifact)) or isinstance(value, str) and "{{" in value:
        return True
    if isinstance(value, (list, tuple)):
        return any(_dynamic(v) for v in value)
    if isinstance(value, dict):
        return any(_dynamic(v) for v in value.values())
    return False


def op_reference(template: PythonOPTemplate) -> dict[str, Any]:
    """Reference an OP by import path, or ship it by value if the job could not import it."""
    cls = template.op_class
    if template.op_instance is None and cls.__module__ != "__main__":
        try:
            obj: Any = importlib.import_module(cls.__module__)
            for part in cls.__qualname__.split("."):
                obj = getattr(obj, part)
            if obj is cls:
                return {"module": cls.__module__, "qualname": cls.__qualname__}
        except (ImportError, AttributeError):
            pass
    target = template.op_instance if template.op_instance is not None else cls
    data = cloudpickle.dumps(target)
    return {
        "pickle": base64.b64encode(data).decode(),
        "python": platform.python_version(),
        "name": cls.__name__,
    }


class SpecBuilder:
    """Walks a workflow's templates once (recursion-safe) and compiles each."""

    def workflow(self, name: str, entry: Any, parameters: dict[str, Any]) -> WorkflowSpec:
        """The whole workflow as the typed spec: compiled, its DAG dependencies inferred,
        validated (a pure check), then read into the model, which is its schema."""
        from hpcflow.spec.validate import infer_dag_dependencies, validate_spec

        spec = {
            "version": SPEC_VERSION,
            "name": name,
            "entrypoint": self.template_name(entry),
            "parameters": {k: value_spec(v) for k, v in parameters.items()},
            "templates": self.templates,
        }
        infer_dag_dependencies(spec)
        validate_spec(spec)
        return WorkflowSpec.from_json(spec)

    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}
        self._names: dict[int, str] = {}
        self._objects: dict[str, Any] = {}

    def template_name(self, template: Any) -> str:
        key = id(template)
        if key in self._names:
            return self._names[key]
        name: str = template.name
        i = 2
        while name in self._objects:
            name = f"{template.name}-{i}"
            i += 1
        self._names[key] = name
        self._objects[name] = template
        self.templates[name] = {}  # placeholder so recursion stops here
        self.templates[name] = self.compile(template, name)
        return name

    def compile(self, template: Any, name: str) -> dict[str, Any]:
        if isinstance(template, (Steps, DAG)):
            return self._compile_container(template, name)
        if isinstance(template, OPTemplate):
            return self._compile_op(template, name)
        raise SpecError(f"{template!r} is not a template (PythonOPTemplate, ShellOPTemplate, Steps, DAG)")

    # ------------------------------------------------------------------ executable templates

    def _compile_op(self, t: OPTemplate, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "kind": t.kind,
            "name": name,
            "inputs": _inputs_spec(t),
            "outputs": {
                "parameters": {
                    k: _output_param_spec(p) for k, p in t.outputs.parameters.items()
                },
                "artifacts": {
                    k: {"path": a.path, "optional": bool(getattr(a, "optional", False))}
                    for k, a in t.outputs.artifacts.items()
                },
            },
            "image": t.image,
            "command": t.command,
            "timeout": t.timeout,
            "retry_on_transient_error": t.retry_on_transient_error,
            "retry_on_failure": t.retry_on_failure,
            "timeout_as_transient_error": bool(t.timeout_as_transient_error),
            "envs": {str(k): str(v) for k, v in t.envs.items()},
            "resources": normalize_resources(t.requests, t.limits, t.resources),
            "python_packages": _python_packages(t),
            "pre_script": t.pre_script,
            "post_script": t.post_script,
        }
        if t.cache is not None:
            spec["cache"] = bool(t.cache)
        if t.cache_version is not None:
            spec["cache_version"] = t.cache_version
        if isinstance(t, PythonOPTemplate):
            spec["op"] = op_reference(t)
            spec["source_hash"] = op_source_hash(t.op_class)
            spec["slices"] = slices_spec(t.slices) if t.slices else None
        elif isinstance(t, (ShellOPTemplate, PythonScriptOPTemplate)):
            spec["script"] = t.script
            spec["slices"] = None
        return spec

    # ------------------------------------------------------------------ Steps and DAG

    def _compile_container(self, t: Steps | DAG, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "kind": t.kind,
            "name": name,
            "inputs": _inputs_spec(t),
            "outputs": {
                "parameters": {k: _container_output_param(name, k, p) for k, p in t.outputs.parameters.items()},
                "artifacts": {k: _container_output_artifact(name, k, a) for k, a in t.outputs.artifacts.items()},
            },
            "parallelism": t.parallelism,
        }
        if isinstance(t, Steps):
            spec["groups"] = [[self.compile_step(s) for s in group] for group in t.groups]
            if t.fuse:
                spec["fuse"] = True
        else:
            spec["tasks"] = [self.compile_step(s) for s in t.tasks]
        return spec

    def compile_step(self, step: Step) -> dict[str, Any]:
        tmpl_name = self.template_name(step.template)
        tmpl = step.template
        known_params = set(tmpl.inputs.parameters)
        known_arts = set(tmpl.inputs.artifacts)
        for k in step.parameters:
            if k not in known_params:
                raise SpecError(
                    f"step {step.name}: parameter {k!r} is not an input of template {tmpl_name} "
                    f"(inputs: {', '.join(sorted(known_params)) or 'none'})"
                )
        for k in step.artifacts:
            if k not in known_arts:
                raise SpecError(
                    f"step {step.name}: artifact {k!r} is not an input of template {tmpl_name} "
                    f"(artifacts: {', '.join(sorted(known_arts)) or 'none'})"
                )
        for k, p in tmpl.inputs.parameters.items():
            if k not in step.parameters and not p.has_value:
                raise SpecError(f"step {step.name}: missing input parameter {k!r} of template {tmpl_name}")
        for k, a in tmpl.inputs.artifacts.items():
            if k not in step.artifacts and not getattr(a, "optional", False):
                raise SpecError(f"step {step.name}: missing input artifact {k!r} of template {tmpl_name}")
        _check_literal_types(step)
        slices = step.slices if step.slices is not None else getattr(tmpl, "slices", None)
        if step.slices is not None and isinstance(tmpl, PythonOPTemplate):
            tmpl._check_slices(step.slices)
        elif step.slices is not None:  # a sliced super-OP (a Steps or DAG template)
            _check_container_slices(step, tmpl_name)
        executor = _executor_spec(step.executor)
        return {
            "name": step.name,
            "template": tmpl_name,
            "parameters": {k: value_spec(v) for k, v in step.parameters.items()},
            "artifacts": {k: value_spec(v) for k, v in step.artifacts.items() if v is not None},
            "when": _when_text(step.when),
            "key": None if step.key is None else value_spec(step.key),
            "with_param": None if step.with_param is None else value_spec(step.with_param),
            "with_sequence": None if step.with_sequence is None else value_spec(step.with_sequence),
            "continue_on_failed": bool(step.continue_on_failed),
            "continue_on_num_success": step.continue_on_num_success,
            "continue_on_success_ratio": step.continue_on_success_ratio,
            "parallelism": step.parallelism,
            "slices": slices_spec(slices, executor) if slices is not None else None,
            "dependencies": [d if isinstance(d, str) else d.name for d in step.dependencies],
            "executor": executor,
            **({"cache": bool(step.cache)} if getattr(step, "cache", None) is not None else {}),
        }


def _check_container_slices(step: Step, tmpl_name: str) -> None:
    tmpl, slices = step.template, step.slices
    for kind, names, known in (
        ("input_parameter", slices.input_parameter, tmpl.inputs.parameters),
        ("input_artifact", slices.input_artifact, tmpl.inputs.artifacts),
        ("output_parameter", slices.output_parameter, tmpl.outputs.parameters),
        ("output_artifact", slices.output_artifact, tmpl.outputs.artifacts),
    ):
        for name in names:
            if name not in known:
                raise SpecError(f"step {step.name}: Slices {kind} {name!r} is not one of template "
                                f"{tmpl_name}'s (known: {', '.join(sorted(known)) or 'none'})")


def slices_spec(s: Slices, executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Slices as data; an executor's group_size / pool_size apply unless Slices sets them."""
    executor = executor or {}
    return {
        "slices": value_spec(slice_expression(s.slices)),
        "input_parameter": s.input_parameter,
        "input_artifact": s.input_artifact,
        "output_parameter": s.output_parameter,
        "output_artifact": s.output_artifact,
        "sub_path": s.sub_path,
        "group_size": s.group_size if s.group_size is not None else executor.get("group_size"),
        "pool_size": s.pool_size if s.pool_size is not None else executor.get("pool_size"),
        "create_dir": s.create_dir,
    }


def _python_packages(t: OPTemplate) -> list[str]:
    """The template's python_packages, plus Dflow's global ``upload_packages`` for Python OPs."""
    import os

    packages = [os.path.abspath(p) for p in t.python_packages]
    if isinstance(t, PythonOPTemplate):
        from hpcflow.python import upload_packages

        packages += [p for p in map(os.path.abspath, upload_packages) if p not in packages]
    return packages


_QUOTED_PLACEHOLDER = re.compile(r"""(['"])\{\{\s*([^{}]*?)\s*\}\}\1""")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}=][^{}]*?)\s*\}\}")


def slice_expression(slices: Any) -> Any:
    """Dflow's slices are Python expressions around ``{{item}}`` (``"int('{{item}}')"``,
    ``"{{item}}"``). A lone placeholder stays as it is; any other string becomes the same
    expression in hpcflow's expression language (``int(string(item))``), never ``eval``."""
    if not isinstance(slices, str) or "{{" not in slices:
        return slices
    text = slices.strip()
    if _PLACEHOLDER.fullmatch(text) or (text.startswith("{{=") and text.endswith("}}")):
        return text
    expr = _QUOTED_PLACEHOLDER.sub(lambda m: f"string({m.group(2)})", text)
    expr = _PLACEHOLDER.sub(lambda m: f"({m.group(1)})", expr)
    from hpcflow.spec.expr import parse

    try:
        parse(expr)
    except ExpressionError as exc:
        raise SpecError(f"Slices: cannot read the slice expression {slices!r}: {exc}") from exc
    return "{{=" + expr + "}}"


def _executor_spec(executor: Any) -> dict[str, Any] | None:
    if executor is None:
        return None
    to_spec = getattr(executor, "to_spec", None)
    if to_spec is None:
        raise SpecError(f"executor {executor!r} is not an hpcflow Executor")
    return cast("dict[str, Any] | None", to_spec())


def _inputs_spec(t: Any) -> dict[str, Any]:
    params = {}
    for k, p in t.inputs.parameters.items():
        entry: dict[str, Any] = {"type": type_name(p.type) if p.type is not None else None}
        if isinstance(p, InputParameter) and p.has_value:
            entry["default"] = value_spec(p.value)
        params[k] = entry
    arts = {
        k: {"optional": bool(getattr(a, "optional", False)), "path": getattr(a, "path", None)}
        for k, a in t.inputs.artifacts.items()
    }
    return {"parameters": params, "artifacts": arts}


def _output_param_spec(p: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"value_from_path": p.value_from_path}
    if _has_default(p):
        entry["default"] = value_spec(p.default)
    return entry


def _has_default(p: Any) -> bool:
    from hpcflow.dsl.io import _UNSET

    return p.default is not _UNSET


def _container_output_param(tmpl: str, name: str, p: Any) -> dict[str, Any]:
    source = p.value_from_expression if p.value_from_expression is not None else p.value_from_parameter
    entry: dict[str, Any] = {}
    if source is not None:
        entry["from"] = value_spec(source)
    if _has_default(p):
        entry["default"] = value_spec(p.default)
    if not entry:
        raise SpecError(
            f"template {tmpl}: output parameter {name!r} needs value_from_parameter or "
            "value_from_expression"
        )
    return entry


def _container_output_artifact(tmpl: str, name: str, a: Any) -> dict[str, Any]:
    source = a.from_expression if a.from_expression is not None else a._from
    if source is None:
        raise SpecError(f"template {tmpl}: output artifact {name!r} needs _from or from_expression")
    return {"from": value_spec(source), "optional": bool(a.optional)}


def _when_text(when: Any) -> str | None:
    if when is None:
        return None
    if isinstance(when, bool):
        return "true" if when else "false"
    return str(when)


def _check_literal_types(step: Step) -> None:
    """A literal of the wrong type for a Python OP's parameter fails before anything runs."""
    tmpl = step.template
    if not isinstance(tmpl, PythonOPTemplate):
        return
    from hpcflow.python.opio import Parameter
    from hpcflow.python.typecheck import check_type, describe_value_type

    sliced = set(tmpl.slices.input_parameter) if tmpl.slices else set()
    if step.slices is not None:
        sliced |= set(step.slices.input_parameter)
    for k, v in step.parameters.items():
        spec = tmpl.input_sign.get(k)
        if not isinstance(spec, Parameter) or v is None or _dynamic(v) or k in sliced:
            continue  # None is never type-checked, as in Dflow
        if not check_type(v, spec.type):
            raise SpecError(
                f"step {step.name}: parameter {k!r} of OP {tmpl.op_class.__name__} expects "
                f"{type_name(spec.type)}, got {describe_value_type(v)} ({v!r:.60})"
            )
