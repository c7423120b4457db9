"""Bad workflows fail before anything runs, with one clear error naming the step."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import DAG, InputParameter, Inputs, Step, Steps, Task, Workflow, upload_artifact
from hpcflow.errors import SpecError
from hpcflow.python import PythonOPTemplate
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


def assert_nothing_stored() -> None:
    from hpcflow.client import get_client

    assert get_client().store.list_workflows() == []


def test_cycle_in_dag_names_the_tasks():
    dag = DAG("cyc")
    a = Task("a", PythonOPTemplate(ops.add), parameters={"a": 1})
    b = Task("b", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"]})
    a.parameters["a"] = b.outputs.parameters["c"]
    dag.add([a, b])
    with pytest.raises(SpecError, match=r"cycle: a -> b -> a"):
        Workflow("cyc", dag=dag).submit()
    assert_nothing_stored()


def test_reference_to_a_missing_output_names_step_and_output():
    wf = Workflow("missing")
    a = Step("a", PythonOPTemplate(ops.add), parameters={"a": 1})
    wf.add(a)
    wf.add(Step("b", PythonOPTemplate(ops.add), parameters={"a": "{{steps.a.outputs.parameters.nope}}"}))
    with pytest.raises(SpecError, match=r"step b: .*step 'a' has no output parameter 'nope'"):
        wf.submit()
    assert_nothing_stored()


def test_reference_to_a_later_step_is_an_error():
    wf = Workflow("later")
    b = Step("b", PythonOPTemplate(ops.add), parameters={"a": 1})
    wf.add(Step("a", PythonOPTemplate(ops.add), parameters={"a": b.outputs.parameters["c"]}))
    wf.add(b)
    with pytest.raises(SpecError, match=r"step a: .*'b', which is not an earlier step"):
        wf.submit()


def test_wrong_parameter_type_names_step_op_and_types():
    wf = Workflow("types")
    wf.add(Step("sq", PythonOPTemplate(ops.square), parameters={"x": "three"}))
    with pytest.raises(SpecError, match=r"step sq: parameter 'x' of OP square expects float, got str"):
        wf.submit()
    assert_nothing_stored()


def test_when_that_does_not_parse_names_the_step():
    wf = Workflow("badwhen")
    wf.add(Step("a", PythonOPTemplate(ops.add), parameters={"a": 1}, when="1 < < 2"))
    with pytest.raises(SpecError, match=r"step a: cannot parse '1 < < 2'"):
        wf.submit()
    assert_nothing_stored()


def test_missing_artifact_path_is_reported(tmp_path: Path):
    with pytest.raises(SpecError, match=r"upload_artifact: .*nothere.txt does not exist"):
        upload_artifact(tmp_path / "nothere.txt")


def test_missing_required_input_and_unknown_input():
    with pytest.raises(SpecError, match=r"step s: missing input parameter 'x'"):
        Workflow("w", steps=_steps(Step("s", PythonOPTemplate(ops.square)))).submit()
    with pytest.raises(SpecError, match=r"step s: parameter 'z' is not an input"):
        Workflow("w", steps=_steps(Step("s", PythonOPTemplate(ops.square), parameters={"x": 1, "z": 2}))).submit()


def test_undeclared_template_input_reference():
    inner = Steps("inner", inputs=Inputs(parameters={"x": InputParameter()}))
    inner.add(Step("s", PythonOPTemplate(ops.add), parameters={"a": "{{inputs.parameters.y}}"}))
    wf = Workflow("undeclared")
    wf.add(Step("call", inner, parameters={"x": 1}))
    with pytest.raises(SpecError, match=r"template inner, step s: inputs.parameters.y is not an input"):
        wf.submit()


def test_a_failing_expression_at_run_time_fails_the_step_not_the_engine():
    wf = Workflow("runtime-expr")
    dup = Step("dup", PythonOPTemplate(ops.Duplicate), parameters={"msg": "a", "times": 1})
    bad = Step("bad", PythonOPTemplate(ops.add), parameters={"a": "{{item}}"},
               with_param=dup.outputs.parameters["msgs"].__getitem__(0))
    wf.add(dup)
    wf.add(bad)
    wf.submit()
    assert wf.wait(timeout=60) == "Failed"
    (step,) = wf.query_step(name="bad")
    assert step.phase == "Failed" and "with_param" in step.message


def _steps(step: Step) -> Steps:
    s = Steps("main")
    s.add(step)
    return s


def test_a_bad_value_fails_its_workflow_and_the_engine_goes_on():
    """A value the engine cannot use fails that workflow only; others run to the end."""
    from hpcflow.python import Slices

    bad = Workflow("bad-slices")
    dup = Step("dup", PythonOPTemplate(ops.Duplicate), parameters={"msg": "not a list", "times": 1})
    bad.add(dup)
    bad.add(Step("sq", PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
                 parameters={"x": "{{steps.dup.outputs.parameters.msgs}}[0]"}))
    good = Workflow("good")
    good.add(Step("a", PythonOPTemplate(ops.add), parameters={"a": 1}))
    bad.submit()
    good.submit()
    assert bad.wait(timeout=60) == "Failed"
    assert good.wait(timeout=60) == "Succeeded"
    assert "not a list" in bad.query_step(name="sq")[0].message
