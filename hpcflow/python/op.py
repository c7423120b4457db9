"""OPs: the unit of computation, with typed input and output signatures (Dflow's ``OP``).

A class OP declares ``get_input_sign`` / ``get_output_sign`` and implements ``execute``;
``@OP.exec_sign_check`` checks values against the signatures before and after ``execute``.
A function OP is a typed function turned into an OP class by ``@OP.function``.
"""

from __future__ import annotations

import functools
import types
import typing
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, cast, get_type_hints

from hpcflow.errors import OPSignatureError
from hpcflow.pathtypes import is_path
from hpcflow.python.opio import OPIO, Artifact, OPIOSign, Parameter, as_sign, type_name
from hpcflow.python.typecheck import check_type, describe_value_type


class TransientError(Exception):
    """Raised by an OP for a failure that may pass if retried (retry_on_transient_error)."""


class FatalError(Exception):
    """Raised by an OP for a failure that retrying cannot fix; never retried."""


class _OPMeta(ABCMeta):
    """Lets a function OP be called like its function, or like a step inside a ``with`` block."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        func = cls.__dict__.get("_hpcflow_func")
        if func is None:
            return super().__call__(*args, **kwargs)
        from hpcflow import context

        if context.current() is not None:
            from hpcflow.dsl.functional import call_in_context

            return call_in_context(cast("type[OP]", cls), *args, **kwargs)
        if not args and not kwargs and _has_required_args(func):
            return super().__call__()  # ``op()``: an instance, as PythonOPTemplate accepts
        return func(*args, **kwargs)


def _has_required_args(func: Callable[..., Any]) -> bool:
    return any(default is _EMPTY for _, default in _parameters(func))


#: No default value, no return annotation (``inspect``'s ``empty``, which would make every
#: job that imports a module of function OPs import ``inspect``).
_EMPTY: Any = type("_Empty", (), {"__repr__": lambda self: "<empty>"})()

_VARARGS = 0x04 | 0x08  # CO_VARARGS | CO_VARKEYWORDS


def _parameters(func: Callable[..., Any]) -> list[tuple[str, Any]]:
    """(name, default or ``_EMPTY``) of each parameter of ``func``, read from its code for a
    plain function (``inspect.signature`` otherwise: wrapped functions, callables).

    Raises:
        OPSignatureError: ``func`` takes ``*args`` or ``**kwargs``.
    """
    code = getattr(func, "__code__", None)
    if (not isinstance(func, types.FunctionType) or code is None or hasattr(func, "__wrapped__")
            or hasattr(func, "__signature__")):
        import inspect

        params = inspect.signature(func).parameters.values()
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            raise OPSignatureError(f"function OP {func.__name__}: *args/**kwargs are not allowed")
        return [(p.name, _EMPTY if p.default is p.empty else p.default) for p in params]
    if code.co_flags & _VARARGS:
        raise OPSignatureError(f"function OP {func.__name__}: *args/**kwargs are not allowed")
    positional = code.co_argcount
    names = code.co_varnames[:positional + code.co_kwonlyargcount]
    defaults = func.__defaults__ or ()
    first_default = positional - len(defaults)
    kw_defaults = func.__kwdefaults__ or {}
    return [(name, (defaults[i - first_default] if i >= first_default else _EMPTY) if i < positional
             else kw_defaults.get(name, _EMPTY)) for i, name in enumerate(names)]


class OP(metaclass=_OPMeta):
    """Base class of every OP (an ABC, as Dflow's: ``class MyOP(OP, ABC)`` works).

    Attributes:
        progress_total / progress_current: optional progress an OP may report.
    """

    progress_total: int = 100
    progress_current: int = 0
    #: Set on the instance by the runtime: the slice index when run as part of Slices.
    slices: dict[str, Any] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    @classmethod
    def instantiate(cls) -> OP:
        """An instance for the runtime (a function OP's class call runs its function)."""
        return cast(OP, type.__call__(cls))

    # OP is an ABC as in Dflow: ``execute`` and any method a subclass marks abstract must be
    # defined before the OP can be used. An OP without inputs or outputs may omit the signs.
    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign()

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign()

    @classmethod
    def get_info(cls) -> dict[str, Any]:
        return {}

    @abstractmethod
    def execute(self, op_in: OPIO) -> OPIO:
        raise NotImplementedError(f"{type(self).__name__}.execute is not implemented")

    @staticmethod
    def exec_sign_check(func: Callable[[Any, OPIO], OPIO]) -> Callable[[Any, OPIO], OPIO]:
        """Decorate ``execute`` to fill defaults and check inputs before and outputs after."""

        @functools.wraps(func)
        def wrapper(self: OP, op_in: OPIO) -> OPIO:
            op_name = op_display_name(type(self))
            checked_in = check_inputs(op_name, type(self).get_input_sign(), op_in)
            op_out = func(self, checked_in)
            return check_outputs(op_name, type(self).get_output_sign(), op_out)

        wrapper._hpcflow_checked = True  # type: ignore[attr-defined]  # a marker on the function
        return wrapper

    @classmethod
    def function(cls, func: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Turn a typed function into an OP class (``@OP.function`` or ``@OP.function()``)."""
        if func is None:
            return lambda f: make_function_op(f, **options)
        return make_function_op(func, **options)


def op_display_name(op: Any) -> str:
    cls = op if isinstance(op, type) else type(op)
    return cls.__dict__.get("_hpcflow_name") or cls.__name__


def check_inputs(op_name: str, sign: Mapping[str, Any], op_in: Mapping[str, Any]) -> OPIO:
    """Fill defaults and type-check ``op_in`` against ``sign``; return the completed OPIO."""
    sign = as_sign(sign)
    undeclared = sorted(set(op_in) - set(sign))
    if undeclared:
        raise OPSignatureError(
            f"OP {op_name}: input {undeclared[0]!r} is not declared in its input signature "
            f"(declared: {', '.join(sorted(sign)) or 'none'})"
        )
    result = OPIO()
    for name, spec in sign.items():
        if name in op_in:
            value = op_in[name]
            _check_field(op_name, "input", name, spec, value)
        elif isinstance(spec, Parameter) and spec.has_default:
            value = spec.default  # the OP's own default is trusted, None included
        elif isinstance(spec, Artifact) and spec.optional:
            value = None
        else:
            kind = "artifact" if isinstance(spec, Artifact) else "parameter"
            raise OPSignatureError(
                f"OP {op_name}: missing input {kind} {name!r} (expects {type_name(spec.type)})"
            )
        result[name] = value
    return result


def check_outputs(op_name: str, sign: Mapping[str, Any], op_out: Any) -> OPIO:
    """Type-check what ``execute`` returned against the output signature."""
    sign = as_sign(sign)
    if not isinstance(op_out, Mapping):
        raise OPSignatureError(
            f"OP {op_name}: execute returned {type(op_out).__name__}, expected an OPIO (a mapping)"
        )
    undeclared = sorted(set(op_out) - set(sign))
    if undeclared:
        raise OPSignatureError(
            f"OP {op_name}: output {undeclared[0]!r} is not declared in its output signature "
            f"(declared: {', '.join(sorted(sign)) or 'none'})"
        )
    for name, spec in sign.items():
        if name not in op_out:
            if isinstance(spec, Artifact) and spec.optional:
                continue
            kind = "artifact" if isinstance(spec, Artifact) else "parameter"
            raise OPSignatureError(
                f"OP {op_name}: missing output {kind} {name!r} (expects {type_name(spec.type)})"
            )
        _check_field(op_name, "output", name, spec, op_out[name])
    return op_out if isinstance(op_out, OPIO) else OPIO(op_out)


def _check_field(op_name: str, direction: str, name: str, spec: Any, value: Any) -> None:
    """Dflow's rules: a None value is never type-checked, and artifacts are checked no
    stricter than Dflow does: a single-path, nested or union artifact may hold lists and
    dicts (a list of paths may go into ``Artifact(Path)``); list and dict artifacts must be
    lists and dicts. Every leaf must still be a path."""
    if value is None:
        return
    if isinstance(spec, Artifact):
        if not _artifact_value_ok(value, spec.structure):
            raise OPSignatureError(
                f"OP {op_name}: {direction} artifact {name!r} expects {type_name(spec.type)} "
                f"(paths), got {describe_value_type(value)}"
            )
        return
    if not check_type(value, spec.type):
        raise OPSignatureError(
            f"OP {op_name}: {direction} parameter {name!r} expects {type_name(spec.type)}, "
            f"got {describe_value_type(value)} ({_short_repr(value)})"
        )


def _artifact_value_ok(value: Any, structure: str) -> bool:
    if structure == "list":
        return isinstance(value, (list, tuple, set)) and all(_paths(v) for v in value)
    if structure == "dict":
        return isinstance(value, dict) and all(_paths(v) for v in value.values())
    return _paths(value)


def _paths(value: Any) -> bool:
    """Paths (or None) at every leaf, whatever the nesting of lists and dicts."""
    if isinstance(value, (list, tuple, set)):
        return all(_paths(v) for v in value)
    if isinstance(value, dict):
        return all(_paths(v) for v in value.values())
    return value is None or isinstance(value, str) or is_path(value)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ----------------------------------------------------------------------------- function OPs


def make_function_op(func: Callable[..., Any], **options: Any) -> type[OP]:
    """Build an OP class from a function whose arguments and return value are annotated."""
    try:
        hints = get_type_hints(func, include_extras=True)
    except Exception:  # annotations that are not types (e.g. dict literals) fail here
        hints = dict(getattr(func, "__annotations__", {}))
    input_sign = OPIOSign()
    for pname, default in _parameters(func):
        input_sign[pname] = _as_io(hints.get(pname, Any), default)
    ret = func.__annotations__.get("return", _EMPTY)
    output_sign, return_style = _output_sign_from_return(func, hints.get("return", ret))

    def execute(self: OP, op_in: OPIO) -> OPIO:
        result = func(**dict(op_in))
        return _wrap_return(func.__name__, return_style, output_sign, result)

    namespace: dict[str, Any] = {
        "_hpcflow_func": func,
        "_hpcflow_name": func.__name__,
        "_hpcflow_return_style": return_style,
        "__module__": func.__module__,
        "__qualname__": func.__qualname__,
        "__doc__": func.__doc__,
        "get_input_sign": classmethod(lambda cls: input_sign),
        "get_output_sign": classmethod(lambda cls: output_sign),
        "execute": OP.exec_sign_check(execute),
    }
    return typing.cast(type[OP], _OPMeta(func.__name__, (OP,), namespace))


#: The output name of a function OP that returns a single value (Dflow's name for it).
SINGLE_OUTPUT = "dflow_output"


def _as_io(tp: Any, default: Any = _EMPTY) -> Parameter | Artifact:
    if isinstance(tp, (Parameter, Artifact)):
        return tp
    if default is _EMPTY:
        return Parameter(tp)
    return Parameter(tp, default=default)


def _output_sign_from_return(func: Callable[..., Any], ret: Any) -> tuple[OPIOSign, str]:
    """Return the output signature and how to read the return value (dict/namedtuple/single)."""
    if ret is _EMPTY or ret is None or ret is type(None):
        return OPIOSign(), "none"
    if isinstance(ret, dict):
        return OPIOSign({k: _as_io(v) for k, v in ret.items()}), "dict"
    if isinstance(ret, type) and issubclass(ret, tuple) and hasattr(ret, "_fields"):
        ann = typing.get_type_hints(ret) if hasattr(ret, "__annotations__") else {}
        return OPIOSign({f: _as_io(ann.get(f, Any)) for f in ret._fields}), "namedtuple"
    if isinstance(ret, type) and issubclass(ret, dict) and hasattr(ret, "__annotations__"):
        ann = typing.get_type_hints(ret, include_extras=True)
        return OPIOSign({k: _as_io(v) for k, v in ann.items()}), "dict"
    return OPIOSign({SINGLE_OUTPUT: _as_io(ret)}), "single"


def _wrap_return(name: str, style: str, sign: OPIOSign, result: Any) -> OPIO:
    if style == "none":
        return OPIO()
    if style == "single":
        return OPIO({SINGLE_OUTPUT: result})
    if style == "namedtuple":
        if not hasattr(result, "_asdict"):
            raise OPSignatureError(
                f"OP {name}: returned {type(result).__name__}, expected the declared NamedTuple"
            )
        return OPIO(result._asdict())
    if not isinstance(result, Mapping):
        raise OPSignatureError(
            f"OP {name}: returned {type(result).__name__}, expected a dict with keys "
            f"{', '.join(sorted(sign))}"
        )
    return OPIO(result)


def get_op_class(op: Any) -> type[OP]:
    """Accept an OP class or instance (PythonOPTemplate takes both) and return the class."""
    if isinstance(op, type) and issubclass(op, OP):
        return op
    if isinstance(op, OP):
        return type(op)
    raise OPSignatureError(f"{op!r} is not an OP class or instance")
