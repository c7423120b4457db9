"""OP signatures: OPIOSign, Parameter, Artifact, and what ``@OP.exec_sign_check`` enforces."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Union

import pytest

from hpcflow.errors import HpcflowError, OPSignatureError
from hpcflow.python import OP, OPIO, Artifact, BigParameter, NestedDict, OPIOSign, Parameter
from hpcflow.python.op import check_inputs, check_outputs
from hpcflow.python.opio import artifact_structure


class Point:
    """A user class passed as a parameter value."""

    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


def make_op(
    inputs: dict[str, Any], outputs: dict[str, Any], body: Any = None, name: str = "MyOP"
) -> type[OP]:
    """A class OP with the given signatures whose execute returns ``body(op_in)``."""

    def execute(self: OP, op_in: OPIO) -> OPIO:
        return body(op_in) if body is not None else OPIO()

    return type(
        name,
        (OP,),
        {
            "get_input_sign": classmethod(lambda cls: OPIOSign(inputs)),
            "get_output_sign": classmethod(lambda cls: OPIOSign(outputs)),
            "execute": OP.exec_sign_check(execute),
        },
    )


# ----------------------------------------------------------------------------- OPIOSign


def test_opiosign_plain_type_is_parameter_shorthand() -> None:
    sign = OPIOSign({"x": int, "y": List[float]})
    assert isinstance(sign["x"], Parameter) and sign["x"].type is int
    assert sign["y"].type == List[float]
    assert not sign["x"].has_default


def test_opiosign_keeps_parameter_and_artifact_objects_and_splits_them() -> None:
    p, a, b = Parameter(int, default=3), Artifact(Path), BigParameter(dict)
    sign = OPIOSign(x=p, f=a, big=b)
    assert sign["x"] is p and sign["f"] is a and sign["big"] is b
    assert set(sign.parameters()) == {"x", "big"}
    assert set(sign.artifacts()) == {"f"}
    assert list(sign) == ["x", "f", "big"]


def test_opiosign_setitem_coerces_and_delete_works() -> None:
    sign = OPIOSign()
    sign["n"] = str
    assert isinstance(sign["n"], Parameter) and sign["n"].type is str
    del sign["n"]
    assert len(sign) == 0


def test_plain_dict_signature_is_accepted_by_checks() -> None:
    out = check_inputs("Plain", {"x": int}, {"x": 2})
    assert isinstance(out, OPIO) and dict(out) == {"x": 2}
    with pytest.raises(OPSignatureError):
        check_inputs("Plain", {"x": int}, {"x": "2"})


# ----------------------------------------------------------------------------- Parameter


def test_parameter_default_filled_when_input_absent() -> None:
    op = make_op({"x": Parameter(int, default=5)}, {"y": int}, lambda i: OPIO(y=i["x"] * 2))
    assert op().execute(OPIO())["y"] == 10
    assert op().execute(OPIO(x=1))["y"] == 2


def test_parameter_without_default_has_no_default() -> None:
    p = Parameter(int)
    assert not p.has_default
    assert "default" not in repr(p)


def test_parameter_default_none_is_a_real_default() -> None:
    p = Parameter(Optional[int], default=None)  # noqa: UP045
    assert p.has_default and p.default is None
    op = make_op({"x": p}, {"got": Any}, lambda i: OPIO(got=("x" in i, i["x"])))
    assert op().execute(OPIO())["got"] == (True, None)


def test_parameter_default_none_accepted_for_non_optional_type() -> None:
    op = make_op({"x": Parameter(int, default=None)}, {"got": Any}, lambda i: OPIO(got=i["x"]))
    assert op().execute(OPIO())["got"] is None


def test_user_class_parameter_values() -> None:
    op = make_op(
        {"p": Parameter(Point)}, {"q": Point}, lambda i: OPIO(q=Point(i["p"].x + 1, i["p"].y))
    )
    q = op().execute(OPIO(p=Point(1.0, 2.0)))["q"]
    assert isinstance(q, Point) and (q.x, q.y) == (2.0, 2.0)
    with pytest.raises(OPSignatureError, match=r"expects Point, got dict"):
        op().execute(OPIO(p={"x": 1, "y": 2}))


def test_big_parameter_is_a_parameter() -> None:
    op = make_op({"b": BigParameter(dict)}, {"n": int}, lambda i: OPIO(n=len(i["b"])))
    assert op().execute(OPIO(b={"a": 1, "c": 2}))["n"] == 2
    with pytest.raises(OPSignatureError, match="expects dict"):
        op().execute(OPIO(b=[1]))


# ----------------------------------------------------------------------------- Artifact


@pytest.mark.parametrize(
    ("tp", "structure"),
    [
        (Path, "path"),
        (str, "path"),
        (List[Path], "list"),
        (List[str], "list"),
        (Set[Path], "list"),
        (list, "list"),
        (Dict[str, Path], "dict"),
        (dict, "dict"),
        (NestedDict[Path], "nested"),
        (NestedDict[str], "nested"),
    ],
)
def test_artifact_structures(tp: Any, structure: str) -> None:
    assert artifact_structure(tp) == structure
    assert Artifact(tp).structure == structure


@pytest.mark.parametrize("tp", [int, float, Point, Optional[Path]])  # noqa: UP045
def test_invalid_artifact_type_raises(tp: Any) -> None:
    with pytest.raises(TypeError, match="unsupported artifact type"):
        Artifact(tp)


def test_artifact_defaults_and_optional() -> None:
    a = Artifact(Path)
    assert a.type is Path and a.optional is False
    assert Artifact(Path, optional=True).optional is True
    assert "optional=True" in repr(Artifact(Path, optional=True))


def test_an_artifact_without_a_type_is_a_pathlib_path() -> None:
    """Dflow's default, kept though opio no longer imports pathlib itself."""
    assert Artifact().type is Path and Artifact().structure == "path"
    assert repr(Artifact(optional=True)) == "Artifact(Path, optional=True)"


def test_optional_input_artifact_absent_gives_none() -> None:
    op = make_op({"f": Artifact(Path, optional=True)}, {"got": Any}, lambda i: OPIO(got=i["f"]))
    assert op().execute(OPIO())["got"] is None


def test_optional_output_artifact_may_be_absent() -> None:
    op = make_op({}, {"f": Artifact(Path, optional=True)}, lambda i: OPIO())
    assert dict(op().execute(OPIO())) == {}


def test_required_input_artifact_missing_is_error() -> None:
    op = make_op({"f": Artifact(Path)}, {})
    with pytest.raises(OPSignatureError, match=r"OP MyOP: missing input artifact 'f'"):
        op().execute(OPIO())


@pytest.mark.parametrize(
    ("tp", "good", "bad"),
    [
        (Path, Path("a"), 3),
        (str, "a.txt", ["a.txt", 3]),
        (List[Path], [Path("a"), "b"], [Path("a"), 3]),
        (Set[Path], {Path("a")}, "a"),
        (Dict[str, Path], {"k": Path("a")}, {"k": 1}),
        (NestedDict[Path], {"a": {"b": Path("x")}, "c": "y"}, {"a": {"b": 1}}),
    ],
)
def test_artifact_values_must_be_paths(tp: Any, good: Any, bad: Any) -> None:
    op = make_op({"f": Artifact(tp)}, {"g": Artifact(tp)}, lambda i: OPIO(g=i["f"]))
    assert op().execute(OPIO(f=good))["g"] == good
    with pytest.raises(OPSignatureError) as info:
        op().execute(OPIO(f=bad))
    msg = str(info.value)
    assert "OP MyOP" in msg and "input artifact 'f'" in msg and "paths" in msg
    assert type(bad).__name__ in msg


def test_output_artifact_not_a_path_is_rejected() -> None:
    op = make_op({}, {"g": Artifact(Path)}, lambda i: OPIO(g=42))
    with pytest.raises(
        OPSignatureError, match=r"OP MyOP: output artifact 'g' expects Path \(paths\), got int"
    ):
        op().execute(OPIO())


# ----------------------------------------------------------------------------- exec_sign_check


def test_signature_error_is_an_hpcflow_and_type_error() -> None:
    assert issubclass(OPSignatureError, HpcflowError)
    assert issubclass(OPSignatureError, TypeError)


def test_missing_input_names_op_and_field() -> None:
    op = make_op({"x": int, "y": int}, {}, name="Adder")
    with pytest.raises(OPSignatureError) as info:
        op().execute(OPIO(x=1))
    msg = str(info.value)
    assert "Adder" in msg and "'y'" in msg and "missing input" in msg


def test_missing_input_and_output_name_expected_type() -> None:
    op = make_op({"x": Parameter(List[int])}, {}, name="Adder")
    with pytest.raises(OPSignatureError, match=r"List\[int\]"):
        op().execute(OPIO())
    op2 = make_op({}, {"y": Parameter(Dict[str, float])}, lambda i: OPIO(), name="Adder")
    with pytest.raises(OPSignatureError, match=r"Dict\[str, float\]"):
        op2().execute(OPIO())


def test_undeclared_input_names_op_field_and_declared() -> None:
    op = make_op({"x": int}, {}, name="Adder")
    with pytest.raises(OPSignatureError) as info:
        op().execute(OPIO(x=1, z=2))
    msg = str(info.value)
    assert "Adder" in msg and "'z'" in msg and "not declared" in msg
    assert "declared: x" in msg


def test_undeclared_output_names_op_field_and_declared() -> None:
    op = make_op({}, {"y": int}, lambda i: OPIO(y=1, extra=2), name="Adder")
    with pytest.raises(OPSignatureError) as info:
        op().execute(OPIO())
    msg = str(info.value)
    assert "Adder" in msg and "output 'extra'" in msg and "declared: y" in msg


def test_missing_output_names_op_and_field() -> None:
    op = make_op({}, {"y": int, "w": Artifact(Path)}, lambda i: OPIO(w="f"), name="Adder")
    with pytest.raises(OPSignatureError, match=r"OP Adder: missing output parameter 'y'"):
        op().execute(OPIO())
    op2 = make_op({}, {"w": Artifact(Path)}, lambda i: OPIO(), name="Adder")
    with pytest.raises(OPSignatureError, match=r"OP Adder: missing output artifact 'w'"):
        op2().execute(OPIO())


def test_wrong_input_type_names_op_field_expected_and_actual() -> None:
    op = make_op({"count": int}, {}, name="Counter")
    with pytest.raises(OPSignatureError) as info:
        op().execute(OPIO(count="three"))
    msg = str(info.value)
    assert "OP Counter" in msg
    assert "input parameter 'count'" in msg
    assert "expects int" in msg
    assert "got str" in msg and "'three'" in msg


def test_wrong_output_type_names_op_field_expected_and_actual() -> None:
    op = make_op({}, {"ratio": float}, lambda i: OPIO(ratio="0.5"), name="Ratio")
    with pytest.raises(OPSignatureError) as info:
        op().execute(OPIO())
    msg = str(info.value)
    assert "OP Ratio" in msg and "output parameter 'ratio'" in msg
    assert "expects float" in msg and "got str" in msg


def test_execute_must_return_a_mapping() -> None:
    op = make_op({}, {"y": int}, lambda i: 3, name="Bad")
    with pytest.raises(OPSignatureError, match=r"OP Bad: execute returned int, expected an OPIO"):
        op().execute(OPIO())


def test_check_outputs_accepts_plain_dict_and_returns_opio() -> None:
    out = check_outputs("X", OPIOSign(y=int), {"y": 1})
    assert isinstance(out, OPIO) and dict(out) == {"y": 1}


def test_int_accepted_for_float_but_bool_and_str_are_not() -> None:
    op = make_op({"x": float}, {"y": float}, lambda i: OPIO(y=i["x"]))
    assert op().execute(OPIO(x=3))["y"] == 3
    assert op().execute(OPIO(x=2.5))["y"] == 2.5
    for bad in (True, "1.0"):
        with pytest.raises(OPSignatureError, match="expects float"):
            op().execute(OPIO(x=bad))
    assert op().execute(OPIO(x=None))["y"] is None  # as in Dflow, None is never type-checked


@pytest.mark.parametrize(
    ("tp", "good", "bad"),
    [
        (Optional[int], [None, 3], ["3", 3.5]),  # noqa: UP045
        (Union[int, str], [1, "a", None], [1.5, [1]]),  # None passes, as in Dflow
        (List[int], [[], [1, 2]], [[1, "2"], (1, 2), 1, {1}]),
        (Dict[str, float], [{}, {"a": 1.0, "b": 2}], [{"a": "x"}, {1: 1.0}, [("a", 1.0)]]),
        (List[Dict[str, int]], [[{"a": 1}]], [[{"a": 1.5}]]),
        (Any, [None, object(), 1], []),
    ],
)
def test_typing_checks(tp: Any, good: list[Any], bad: list[Any]) -> None:
    op = make_op({"x": Parameter(tp)}, {"y": Parameter(tp)}, lambda i: OPIO(y=i["x"]), name="Typed")
    for value in good:
        assert op().execute(OPIO(x=value))["y"] is value
    for value in bad:
        with pytest.raises(OPSignatureError, match=r"OP Typed: input parameter 'x' expects"):
            op().execute(OPIO(x=value))


def test_output_typing_checked_too() -> None:
    op = make_op({}, {"y": List[int]}, lambda i: OPIO(y=[1, "2"]), name="Typed")
    with pytest.raises(OPSignatureError) as info:
        op().execute(OPIO())
    msg = str(info.value)
    assert "output parameter 'y'" in msg and "List[int]" in msg and "list[int | str]" in msg


def test_checked_execute_receives_filled_inputs_only_once() -> None:
    seen: list[dict[str, Any]] = []

    def body(i: OPIO) -> OPIO:
        seen.append(dict(i))
        return OPIO()

    op = make_op({"a": Parameter(int, default=1), "b": int}, {}, body)
    op().execute(OPIO(b=2))
    assert seen == [{"a": 1, "b": 2}]


def test_unchecked_op_runs_without_checks_when_called_directly() -> None:
    class Loose(OP):
        @classmethod
        def get_input_sign(cls) -> OPIOSign:
            return OPIOSign(x=int)

        def execute(self, op_in: OPIO) -> OPIO:
            return OPIO(anything=op_in["x"])

    assert Loose().execute(OPIO(x="not an int"))["anything"] == "not an int"
