"""Declared inputs and outputs of templates and steps (Dflow's ``Inputs``/``Outputs``).

A template's inputs render as ``{{inputs.parameters.x}}``; a step's outputs render as
``{{steps.NAME.outputs.parameters.y}}`` (``tasks.`` inside a DAG), so they can be passed to
other steps and used in ``when`` strings and expressions.
"""

from __future__ import annotations

from typing import Any

from hpcflow.dsl.refs import PathRef, Ref
from hpcflow.python.opio import ItemsMapping

_UNSET = object()


class _Declared(PathRef):
    """An input or output of a template or step: its reference path follows its owner
    (``inputs``, ``steps.NAME.outputs`` ...) and its section (parameters or artifacts)."""

    section = "parameters"

    def __init__(self, owner_path: str, name: str | None) -> None:
        super().__init__("")
        self.owner_path = owner_path
        self.name = name

    @property
    def ref_path(self) -> str:
        """Derived from the owner and the section, so it follows when the owner is bound."""
        return f"{self.owner_path}.{self.section}.{self.name}"


class InputParameter(_Declared):
    """A template input parameter, optionally with a default value."""

    def __init__(
        self,
        name: str | None = None,
        value: Any = _UNSET,
        type: Any = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__("inputs", name)
        self.value = value
        self.type = type
        self.description = description

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET


class InputArtifact(_Declared):
    """A template input artifact; ``path`` is where a shell/script template reads it."""

    section = "artifacts"

    def __init__(
        self,
        path: str | None = None,
        name: str | None = None,
        optional: bool = False,
        type: Any = None,
        sub_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__("inputs", name)
        self.path = path
        self.optional = optional
        self.type = type
        self.sub_path_value = sub_path

    def sub_path(self, path: str) -> ArtifactSubPath:
        return ArtifactSubPath(self, path)


class OutputParameter(_Declared):
    """A template or step output parameter.

    In an OP template: ``value_from_path`` (shell/script; the file's content, trimmed) or a
    ``default``. In a Steps/DAG: ``value_from_parameter`` (a step's output) or
    ``value_from_expression`` (e.g. ``if_expression(...)``).
    """

    def __init__(
        self,
        value_from_path: str | None = None,
        value_from_parameter: Any = None,
        value_from_expression: Any = None,
        name: str | None = None,
        type: Any = None,
        default: Any = _UNSET,
        global_name: str | None = None,
        description: str | None = None,
        save_as_artifact: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__("outputs", name)
        self.value_from_path = value_from_path
        self.value_from_parameter = value_from_parameter
        self.value_from_expression = value_from_expression
        self.type = type
        self.default = default
        self.global_name = global_name


class OutputArtifact(_Declared):
    """A template or step output artifact: ``path`` (shell/script) or ``_from`` (Steps/DAG)."""

    section = "artifacts"

    def __init__(
        self,
        path: str | None = None,
        _from: Any = None,
        name: str | None = None,
        type: Any = None,
        from_expression: Any = None,
        optional: bool = False,
        global_name: str | None = None,
        archive: str = "default",
        **kwargs: Any,
    ) -> None:
        super().__init__("outputs", name)
        self.path = path
        self._from = _from
        self.from_expression = from_expression
        self.type = type
        self.optional = optional
        self.global_name = global_name

    def sub_path(self, path: str) -> ArtifactSubPath:
        return ArtifactSubPath(self, path)


class ArtifactSubPath(Ref):
    """``artifact.sub_path("a/b")``: a file or directory inside another artifact."""

    def __init__(self, base: Ref, sub: str) -> None:
        self.base = base
        self.sub = sub

    def expr(self) -> str:
        return f"subPath({self.base.expr()}, {self.sub!r})"


class _NamedDict(ItemsMapping):
    """A dict that names its items and attaches them to an owner (``inputs``/``steps.x.outputs``)."""

    def __init__(self, kind: str, owner_path: str, factory: Any) -> None:
        self._kind = kind
        self._owner_path = owner_path
        self._factory = factory
        super().__init__()

    def bind(self, owner_path: str) -> None:
        self._owner_path = owner_path
        for item in self._items.values():
            item.owner_path = owner_path

    def __getitem__(self, key: str) -> Any:
        if key not in self._items:
            raise KeyError(
                f"no {self._kind} named {key!r} in {self._owner_path} "
                f"(known: {', '.join(sorted(self._items)) or 'none'})"
            )
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(value, self._factory):
            # Assigning a plain value to a template input means "default value".
            value = self._factory(value=value) if self._factory is InputParameter else value
        value.name = key
        value.owner_path = self._owner_path
        self._items[key] = value

    def __repr__(self) -> str:
        return f"{self._owner_path}.{self._kind}({list(self._items)})"


class Inputs:
    """``Inputs(parameters={...}, artifacts={...})`` of a template."""

    def __init__(
        self,
        parameters: dict[str, InputParameter] | None = None,
        artifacts: dict[str, InputArtifact] | None = None,
        owner_path: str = "inputs",
    ) -> None:
        self.parameters = _NamedDict("parameters", owner_path, InputParameter)
        self.artifacts = _NamedDict("artifacts", owner_path, InputArtifact)
        for k, v in (parameters or {}).items():
            self.parameters[k] = v
        for k, artifact in (artifacts or {}).items():
            self.artifacts[k] = artifact


class Outputs:
    """``Outputs(parameters={...}, artifacts={...})`` of a template or a step."""

    def __init__(
        self,
        parameters: dict[str, OutputParameter] | None = None,
        artifacts: dict[str, OutputArtifact] | None = None,
        owner_path: str = "outputs",
    ) -> None:
        self.parameters = _NamedDict("parameters", owner_path, OutputParameter)
        self.artifacts = _NamedDict("artifacts", owner_path, OutputArtifact)
        for k, v in (parameters or {}).items():
            self.parameters[k] = v
        for k, artifact in (artifacts or {}).items():
            self.artifacts[k] = artifact

    def bind(self, owner_path: str) -> None:
        self.parameters.bind(owner_path)
        self.artifacts.bind(owner_path)


#: Dflow's name for the dicts of a template's inputs and outputs (AutonamedDict).
NamedDict = _NamedDict
