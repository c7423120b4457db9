"""Signatures and values of OP inputs and outputs: Parameter, Artifact, BigParameter, OPIO.

These are plain descriptions (no I/O). The runtime and the engine read them to decide
what is passed by value (parameters, stored inline as JSON) and what by path (artifacts).
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Dict, Generic, List, TypeVar, Union

from hpcflow.pathtypes import is_path_type

_NO_DEFAULT = object()
#: ``Artifact()``'s type until it is made: ``pathlib.Path``, imported only then (a job of
#: a function OP with plain parameters never imports pathlib).
_PATH = object()

T = TypeVar("T")


class NestedDict(Generic[T]):
    """Marker type for a nested dict of paths (``NestedDict[Path]``), as in Dflow."""


class HDF5Datasets:
    """Dflow's marker for values packed into an HDF5 file. ``Union[List[Path], HDF5Datasets]``
    artifacts are accepted and passed as their path form; a bare ``HDF5Datasets`` is not."""


class HDF5Dataset:
    """One dataset of a Dflow HDF5 artifact (``dflow.python.opio.HDF5Dataset``).

    hpcflow never packs artifacts into HDF5, so OPs receive paths and ``isinstance(x,
    HDF5Dataset)`` is false; reading a Dflow-made file still works through ``get_data``.
    """

    def __init__(self, file: Any, key: str) -> None:
        self.file = file
        self.key = key

    @property
    def dataset(self) -> Any:
        return self.file[self.key]

    def is_none(self) -> bool:
        return bool(self.dataset.attrs.get("type") == "null")

    def get_data(self) -> Any:
        if self.is_none():
            return None
        data = self.dataset[()]
        kind = self.dataset.attrs.get("dtype")
        if kind == "utf-8":
            return data.decode("utf-8")
        if kind == "binary":
            return data.tobytes()
        return data


class Parameter:
    """A value passed by value (any JSON/jsonpickle-serialisable object, user classes too).

    Args:
        type: the expected Python type (``int``, ``List[float]``, a user class, ``Any``...).
        default: used when the input is not given; ``None`` is a legal default.
    """

    def __init__(self, type: Any = Any, default: Any = _NO_DEFAULT, **kwargs: Any) -> None:
        self.type = type
        self.default = default
        self.description = kwargs.get("description")
        # Dflow accepts save_as_artifact etc.; kept for compatibility, meaning nothing here.
        self.extra = kwargs

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def __repr__(self) -> str:
        d = f", default={self.default!r}" if self.has_default else ""
        return f"{type(self).__name__}({_type_name(self.type)}{d})"


class BigParameter(Parameter):
    """A parameter stored as a file rather than inline in the state store."""


class Artifact:
    """A value passed by path: a file or directory, a list of them, or a dict of them.

    Args:
        type: ``str``/``Path`` (one path), ``List[Path]`` (ordered), ``Set[Path]``,
            ``Dict[str, Path]`` (keyed) or ``NestedDict[Path]``.
        optional: the input may be absent; the OP then receives ``None``.
        archive: accepted for Dflow compatibility; artifacts are never archived on a
            shared filesystem.
    """

    _ALLOWED_ORIGINS = (list, set, dict, List, Dict, NestedDict)

    def __init__(
        self,
        type: Any = _PATH,
        optional: bool = False,
        archive: str | None = "default",
        global_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if type is _PATH:
            from pathlib import Path

            type = Path
        self.type = type
        self.optional = optional
        self.archive = archive
        self.global_name = global_name
        self.extra = kwargs
        self.structure = artifact_structure(type)

    def __repr__(self) -> str:
        opt = ", optional=True" if self.optional else ""
        return f"Artifact({_type_name(self.type)}{opt})"


def artifact_structure(tp: Any) -> str:
    """Classify an artifact type as ``"path"``, ``"list"``, ``"dict"`` or ``"nested"``."""
    from typing import get_origin

    if tp in (str, Any) or is_path_type(tp):
        return "path"
    origin = get_origin(tp)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return _union_structure(tp)
    if tp is HDF5Datasets:
        from hpcflow.errors import NotSupported

        raise NotSupported(
            "Artifact(HDF5Datasets): hpcflow passes artifacts as files, never packed into "
            "HDF5; declare the paths (List[Path]) or Union[List[Path], HDF5Datasets]")
    if origin in (list, set, tuple) or tp in (list, set):
        return "list"
    if origin is dict or tp is dict:
        return "dict"
    if origin is NestedDict or tp is NestedDict:
        return "nested"
    raise TypeError(
        f"unsupported artifact type {_type_name(tp)}: use str, Path, List[Path], "
        "Set[Path], Dict[str, Path] or NestedDict[Path]"
    )


def _union_structure(tp: Any) -> str:
    """``Union[List[Path], HDF5Datasets]`` is its path form; a union of several path forms
    (``Union[Path, List[Path]]``) accepts any of them, as Dflow's checks do."""
    from typing import get_args

    args = [a for a in get_args(tp) if a is not HDF5Datasets]
    if type(None) in args:  # Optional[...] is no artifact type, in Dflow either: use optional=True
        raise TypeError(f"unsupported artifact type {_type_name(tp)}: use Artifact(..., optional=True)")
    kinds = {artifact_structure(a) for a in args}
    if len(kinds) == 1:
        return kinds.pop()
    return "any"


class ItemsMapping(MutableMapping[str, Any]):
    """A mutable mapping over ``self._items``; subclasses change how items are stored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._items: dict[str, Any] = {}
        self.update(dict(*args, **kwargs))

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class OPIOSign(ItemsMapping):
    """An OP's signature: a mapping from names to Parameter / Artifact / BigParameter.

    Plain types are accepted as shorthand (``{"x": int}`` means ``Parameter(int)``).
    """

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(value, (Parameter, Artifact)):
            value = Parameter(value)
        self._items[key] = value

    def __repr__(self) -> str:
        return f"OPIOSign({self._items!r})"

    def parameters(self) -> dict[str, Parameter]:
        return {k: v for k, v in self._items.items() if isinstance(v, Parameter)}

    def artifacts(self) -> dict[str, Artifact]:
        return {k: v for k, v in self._items.items() if isinstance(v, Artifact)}


class OPIO(ItemsMapping):
    """The values an OP receives or returns: a plain mapping from names to values."""

    def __repr__(self) -> str:
        return f"OPIO({self._items!r})"


def as_sign(sign: Mapping[str, Any] | OPIOSign) -> OPIOSign:
    return sign if isinstance(sign, OPIOSign) else OPIOSign(sign)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not getattr(tp, "__args__", None):
        return tp.__name__
    return str(tp).replace("typing.", "")


type_name = _type_name
