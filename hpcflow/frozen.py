"""Frozen record classes (the spec model, settings) without ``dataclasses`` at import time.

Every array task imports the spec model to read its task record. ``@dataclass`` compiles
six methods per class with ``exec`` when the module is imported (~0.5 ms of CPU a class,
~10 ms for the model) and imports ``inspect`` (~7 ms more): on a cluster where array tasks
compete for cores that is seconds of wall time per 200 tasks. :func:`frozen` gives a class
the same behaviour a ``@dataclass(frozen=True)`` has here (keyword or positional
``__init__`` with defaults and ``field(default_factory=...)``, ``==``, ``hash``, ``repr``,
assignment refused) from generic methods that need no compiling; :func:`replace` is
``dataclasses.replace``. Type checkers see it as a dataclass (``dataclass_transform``).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:  # only type checkers read it (Python 3.10 has no typing.dataclass_transform)
    def dataclass_transform(**_: Any) -> Callable[[_T], _T]:
        return lambda decorated: decorated


class FrozenRecordError(AttributeError):
    """A field of a frozen record was assigned or deleted."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A field whose default is made anew for each record (a dict, a list)."""
    return _Factory(default_factory)  # type: ignore[return-value]  # as dataclasses.field


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a frozen record of its annotated fields, in the order declared."""
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults: dict[str, Any] = {}
    for name in names:
        if name in cls.__dict__:
            defaults[name] = cls.__dict__[name]
            if isinstance(defaults[name], _Factory):
                delattr(cls, name)
        elif defaults:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
    title = cls.__name__
    key = attrgetter(*names) if names else (lambda _: ())

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{title}() takes {len(names)} arguments but {len(args)} were given")
        values = self.__dict__  # assignment is refused, so the fields are written here
        values.update(zip(names[:len(args)], args, strict=True))
        for name in names[len(args):]:
            if name in kwargs:
                values[name] = kwargs.pop(name)
            elif name in defaults:
                default = defaults[name]
                values[name] = default.make() if type(default) is _Factory else default
            else:
                raise TypeError(f"{title}() missing required argument {name!r}")
        if kwargs:
            raise TypeError(f"{title}() got an unexpected or repeated argument {next(iter(kwargs))!r}")

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(key(self) == key(other))

    def __hash__(self: Any) -> int:
        return hash(key(self))

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{cls.__qualname__}({shown})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen {title}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r} of a frozen {title}")

    for method in (__init__, __eq__, __hash__, __repr__, __setattr__, __delattr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    cls.__record_fields__ = names  # type: ignore[attr-defined]
    cls.__match_args__ = names  # type: ignore[attr-defined, misc]
    return cls


def replace(record: _T, **changes: Any) -> _T:
    """A copy of ``record`` with ``changes`` (``dataclasses.replace``)."""
    names: tuple[str, ...] = type(record).__record_fields__  # type: ignore[attr-defined]
    unknown = set(changes).difference(names)
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    return type(record)(**{name: changes[name] if name in changes else getattr(record, name)
                           for name in names})

