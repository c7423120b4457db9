"""hpcflow.frozen: the spec model's and settings' records behave as frozen dataclasses."""

from __future__ import annotations

import copy
import inspect
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from hpcflow import frozen
from hpcflow.frozen import FrozenRecordError, field
from hpcflow.python.op import _EMPTY, _parameters
from hpcflow.spec.model import InputsSpec, OPTemplateSpec, OutputsSpec, RetryPolicy, TaskRecord


@frozen.frozen
class Point:
    x: int
    y: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)


def test_init_positional_keyword_defaults_and_factories():
    p = Point(1, y=2)
    assert (p.x, p.y, p.tags) == (1, 2, {})
    assert Point(1).tags is not Point(1).tags  # a new dict per record
    with pytest.raises(TypeError, match="missing required argument 'x'"):
        Point()
    with pytest.raises(TypeError, match="unexpected or repeated argument 'x'"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="unexpected or repeated argument 'z'"):
        Point(1, z=2)
    with pytest.raises(TypeError, match="takes 3 arguments but 4"):
        Point(1, 2, {}, 4)


def test_equality_hash_repr_and_assignment_refused():
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1) != (1, 0, {})
    assert hash(RetryPolicy(1, 2)) == hash(RetryPolicy(1, 2))
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags={})"
    p = Point(1)
    with pytest.raises(FrozenRecordError, match="cannot assign to field 'x'"):
        p.x = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y  # type: ignore[misc]


def test_replace_copy_and_pickle():
    p = Point(1, 2, {"a": "b"})
    assert frozen.replace(p, y=5) == Point(1, 5, {"a": "b"})
    with pytest.raises(TypeError, match="no field 'z'"):
        frozen.replace(p, z=1)
    assert copy.deepcopy(p) == p and pickle.loads(pickle.dumps(p)) == p


def test_a_required_field_after_a_default_is_refused():
    with pytest.raises(TypeError, match="'b' without a default follows"):
        @frozen.frozen
        class Bad:
            a: int = 0
            b: int


def test_the_task_record_round_trips():
    tmpl = OPTemplateSpec("python", "t", InputsSpec(), OutputsSpec(), envs={"A": "1"})
    task = TaskRecord("wf", "s", tmpl, parameters={"x": 1}, slice_index=3, op={"module": "m", "qualname": "q"})
    again = TaskRecord.from_json(task.to_json())
    assert again == task and again.template.envs == {"A": "1"} and again.slice_index == 3
    assert again != frozen.replace(task, slice_index=4)


def _plain(a, b=2, *, c, d=4): ...  # type: ignore[no-untyped-def]
def _posonly(a, /, b, c=3): ...  # type: ignore[no-untyped-def]
def _none(): ...  # type: ignore[no-untyped-def]


@pytest.mark.parametrize("func", [_plain, _posonly, _none, lambda x, y=None: x])
def test_function_op_parameters_match_inspect(func: Callable[..., Any]):
    expected = [(p.name, _EMPTY if p.default is p.empty else p.default)
                for p in inspect.signature(func).parameters.values()]
    assert _parameters(func) == expected


def test_function_op_parameters_refuse_varargs():
    from hpcflow.errors import OPSignatureError

    with pytest.raises(OPSignatureError, match=r"\*args/\*\*kwargs"):
        _parameters(lambda *xs: None)
    with pytest.raises(OPSignatureError, match=r"\*args/\*\*kwargs"):
        _parameters(lambda **kw: None)
