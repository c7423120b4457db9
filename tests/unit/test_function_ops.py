"""Function OPs: ``@OP.function`` builds an OP class from a function's type hints.

This module uses ``from __future__ import annotations`` (string annotations), as user code
following our style does; ``test_plain_annotations_module`` covers evaluated annotations.
"""

# Dict-literal return annotations ({"y": int}) are Dflow's function-OP syntax, not types.
# ruff: noqa: F821, F722, UP037

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, TypedDict

import pytest

from hpcflow.errors import OPSignatureError
from hpcflow.python import OP, OPIO, Artifact, Parameter
from hpcflow.python.template import PythonOPTemplate


class Stats(TypedDict):
    total: int
    mean: float


class Pair(NamedTuple):
    lo: int
    hi: int


@OP.function
def add(a: int, b: int = 10) -> {"sum": int, "label": str}:
    return {"sum": a + b, "label": f"{a}+{b}"}


@OP.function
def stats(xs: List[int]) -> Stats:
    return {"total": sum(xs), "mean": sum(xs) / len(xs)}


@OP.function
def bounds(xs: List[int]) -> Pair:
    return Pair(min(xs), max(xs))


@OP.function
def double(x: float) -> float:
    return x * 2


@OP.function
def log_it(msg: str) -> None:
    print(msg)


@OP.function()
def with_parens(x: int) -> int:
    return x + 1


@OP.function
def copy_files(
    src: Artifact(Path), others: Artifact(List[Path], optional=True) = None
) -> {"dst": Artifact(Path), "n": int}:
    return {"dst": src, "n": len(others or [])}


@OP.function
def bad_shape(x: int) -> {"y": int}:
    return x


@OP.function
def bad_pair(x: int) -> Pair:
    return (x, x)


@OP.function
def missing_key(x: int) -> {"y": int, "z": int}:
    return {"y": x}


@OP.function
def optional_default(x: Optional[int] = None, tags: Dict[str, int] = None) -> Any:  # noqa: UP045
    return x


# ----------------------------------------------------------------------------- signatures


def test_is_an_op_class_named_after_the_function() -> None:
    assert isinstance(add, type) and issubclass(add, OP)
    assert add.__name__ == "add"
    assert add.__module__ == __name__
    assert add.__qualname__ == "add"


def test_dict_literal_return_annotation() -> None:
    ins, outs = add.get_input_sign(), add.get_output_sign()
    assert list(ins) == ["a", "b"]
    assert ins["a"].type is int and not ins["a"].has_default
    assert list(outs) == ["sum", "label"]
    assert outs["sum"].type is int and outs["label"].type is str
    assert all(isinstance(v, Parameter) for v in outs.values())


def test_defaults_become_parameter_defaults() -> None:
    b = add.get_input_sign()["b"]
    assert isinstance(b, Parameter) and b.has_default and b.default == 10
    x = optional_default.get_input_sign()["x"]
    assert x.has_default and x.default is None and x.type == Optional[int]  # noqa: UP045


def test_typeddict_return_annotation() -> None:
    outs = stats.get_output_sign()
    assert list(outs) == ["total", "mean"]
    assert outs["total"].type is int and outs["mean"].type is float
    assert stats.get_input_sign()["xs"].type == List[int]
    assert dict(stats().execute(OPIO(xs=[1, 2, 3]))) == {"total": 6, "mean": 2.0}


def test_namedtuple_return_annotation() -> None:
    outs = bounds.get_output_sign()
    assert list(outs) == ["lo", "hi"]
    assert outs["lo"].type is int
    assert dict(bounds().execute(OPIO(xs=[4, 1, 9]))) == {"lo": 1, "hi": 9}


def test_single_return_type_is_output_named_return() -> None:
    outs = double.get_output_sign()
    assert list(outs) == ["dflow_output"] and outs["dflow_output"].type is float
    assert dict(double().execute(OPIO(x=2))) == {"dflow_output": 4}


def test_no_return_annotation_means_no_outputs() -> None:
    assert len(log_it.get_output_sign()) == 0
    assert dict(log_it().execute(OPIO(msg="hi"))) == {}


def test_function_with_parentheses_form() -> None:
    assert issubclass(with_parens, OP)
    assert list(with_parens.get_output_sign()) == ["dflow_output"]
    assert with_parens(x=1) == 2
    assert dict(with_parens().execute(OPIO(x=1))) == {"dflow_output": 2}


def test_artifact_annotations_in_arguments_and_returns() -> None:
    ins, outs = copy_files.get_input_sign(), copy_files.get_output_sign()
    assert isinstance(ins["src"], Artifact) and ins["src"].structure == "path"
    assert isinstance(ins["others"], Artifact) and ins["others"].optional
    assert ins["others"].structure == "list"
    assert isinstance(outs["dst"], Artifact) and isinstance(outs["n"], Parameter)
    assert set(outs.artifacts()) == {"dst"} and set(outs.parameters()) == {"n"}
    result = copy_files().execute(OPIO(src=Path("/x/a")))
    assert dict(result) == {"dst": Path("/x/a"), "n": 0}
    with pytest.raises(OPSignatureError, match=r"input artifact 'src'"):
        copy_files().execute(OPIO(src=5))


def test_template_from_function_op_has_inputs_and_outputs() -> None:
    t = PythonOPTemplate(copy_files)
    assert set(t.inputs.artifacts) == {"src", "others"}
    assert t.inputs.artifacts["others"].optional is True
    assert set(t.outputs.artifacts) == {"dst"} and set(t.outputs.parameters) == {"n"}
    t2 = PythonOPTemplate(add)
    assert t2.inputs.parameters["b"].value == 10
    assert not t2.inputs.parameters["a"].has_value


# ----------------------------------------------------------------------------- calling


def test_calling_outside_a_workflow_runs_the_function() -> None:
    assert add(1, 2) == {"sum": 3, "label": "1+2"}
    assert add(a=1) == {"sum": 11, "label": "1+10"}
    assert bounds(xs=[3, 1]) == Pair(1, 3)
    assert double(1.5) == 3.0


def test_zero_argument_function_op_call_runs_the_function() -> None:
    @OP.function
    def answer() -> int:
        return 42

    assert answer() == 42


def test_execute_checks_inputs_against_hints() -> None:
    with pytest.raises(OPSignatureError) as info:
        add().execute(OPIO(a="1"))
    msg = str(info.value)
    assert "OP add" in msg and "'a'" in msg and "expects int" in msg and "got str" in msg


def test_execute_checks_outputs_against_hints() -> None:
    @OP.function
    def liar(x: int) -> {"y": int}:
        return {"y": str(x)}

    with pytest.raises(OPSignatureError, match=r"OP liar: output parameter 'y' expects int"):
        liar().execute(OPIO(x=1))


def test_wrong_return_shape_dict_expected() -> None:
    with pytest.raises(OPSignatureError) as info:
        bad_shape().execute(OPIO(x=1))
    msg = str(info.value)
    assert "OP bad_shape" in msg and "returned int" in msg and "dict with keys y" in msg


def test_wrong_return_shape_namedtuple_expected() -> None:
    with pytest.raises(
        OPSignatureError,
        match=r"OP bad_pair: returned tuple, expected the "
        r"declared NamedTuple",
    ):
        bad_pair().execute(OPIO(x=1))


def test_return_missing_a_declared_key() -> None:
    with pytest.raises(OPSignatureError, match=r"OP missing_key: missing output parameter 'z'"):
        missing_key().execute(OPIO(x=1))


def test_star_args_rejected() -> None:
    def f(*xs: int) -> int:
        return sum(xs)

    def g(**kw: int) -> int:
        return 0

    with pytest.raises(OPSignatureError, match=r"function OP f: \*args/\*\*kwargs"):
        OP.function(f)
    with pytest.raises(OPSignatureError, match=r"function OP g"):
        OP.function()(g)


def test_plain_annotations_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Annotations evaluated at definition time (no ``from __future__``), local classes too."""
    (tmp_path / "plain_fops.py").write_text(
        textwrap.dedent("""
        from pathlib import Path
        from typing import List, NamedTuple, TypedDict
        from hpcflow.python import OP, Artifact

        @OP.function
        def f(x: int, p: Artifact(Path), k: float = 0.5) -> {"y": float, "q": Artifact(Path)}:
            return {"y": x * k, "q": p}

        def make():
            class Local(NamedTuple):
                a: int
                b: List[str]

            class TD(TypedDict):
                s: str

            @OP.function
            def g(n: int) -> Local:
                return Local(n, [str(n)])

            @OP.function
            def h(n: int) -> TD:
                return {"s": str(n)}

            @OP.function
            def gbad(n: int) -> Local:
                return Local(n, [n])

            return g, h, gbad
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("plain_fops")
    try:
        ins, outs = mod.f.get_input_sign(), mod.f.get_output_sign()
        assert ins["x"].type is int and isinstance(ins["p"], Artifact)
        assert ins["k"].default == 0.5
        assert outs["y"].type is float and isinstance(outs["q"], Artifact)
        assert dict(mod.f().execute(OPIO(x=2, p="a"))) == {"y": 1.0, "q": "a"}
        g, h, gbad = mod.make()
        assert g.get_output_sign()["b"].type == List[str]
        assert dict(g().execute(OPIO(n=3))) == {"a": 3, "b": ["3"]}
        assert h.get_output_sign()["s"].type is str
        with pytest.raises(OPSignatureError, match=r"OP gbad: output parameter 'b' expects"):
            gbad().execute(OPIO(n=3))
    finally:
        sys.modules.pop("plain_fops", None)
