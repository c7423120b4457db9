"""Steps, DAG, nested super-OPs, recursion, when, with_param and keys in local mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import (
    DAG,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
    Step,
    Steps,
    Task,
    Workflow,
    argo_enumerate,
    argo_len,
    argo_range,
    argo_sequence,
    if_expression,
)
from hpcflow.python import PythonOPTemplate
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


def run(wf: Workflow) -> Workflow:
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded", [(s.path, s.phase, s.message) for s in wf.query_step()]
    return wf


def out(wf: Workflow, name: str, param: str):
    return wf.query_step(name=name)[0].outputs.parameters[param].value


def test_sequential_and_parallel_steps_pass_outputs():
    wf = Workflow("seq")
    a = Step("a", PythonOPTemplate(ops.add), parameters={"a": 1})
    b = Step("b", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"], "b": 10})
    c = Step("c", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"], "b": 100})
    d = Step("d", PythonOPTemplate(ops.add),
             parameters={"a": b.outputs.parameters["c"], "b": c.outputs.parameters["c"]})
    wf.add(a)
    wf.add([b, c])
    wf.add(d)
    run(wf)
    assert out(wf, "a", "c") == 2
    assert (out(wf, "b", "c"), out(wf, "c", "c")) == (12, 102)
    assert out(wf, "d", "c") == 114
    # b and c ran in parallel: both started before either finished is not guaranteed on
    # 2 cores, but both must have started after a finished and before d started.
    steps = {s.name: s for s in wf.query_step(type="Pod")}
    assert steps["b"].startedAt >= steps["a"].finishedAt
    assert steps["d"].startedAt >= max(steps["b"].finishedAt, steps["c"].finishedAt)


def test_class_op_defaults_and_list_outputs():
    wf = Workflow("classop")
    wf.add(Step("dup", PythonOPTemplate(ops.Duplicate), parameters={"msg": "hi"}))
    run(wf)
    assert out(wf, "dup", "msgs") == ["hi", "hi"]


def test_dag_infers_dependencies_from_inputs():
    dag = DAG("diamond")
    a = Task("a", PythonOPTemplate(ops.add), parameters={"a": 1})
    b = Task("b", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"]})
    c = Task("c", PythonOPTemplate(ops.add), parameters={"a": a.outputs.parameters["c"], "b": 5})
    d = Task("d", PythonOPTemplate(ops.add),
             parameters={"a": b.outputs.parameters["c"], "b": c.outputs.parameters["c"]})
    e = Task("e", PythonOPTemplate(ops.add), parameters={"a": 0}, dependencies=[d])
    for t in (d, b, e, c, a):  # order of adding does not matter
        dag.add(t)
    wf = run(Workflow("dag", dag=dag))
    assert out(wf, "d", "c") == 3 + 7
    steps = {s.name: s for s in wf.query_step(type="Pod")}
    assert steps["e"].startedAt >= steps["d"].finishedAt
    assert steps["b"].startedAt >= steps["a"].finishedAt


def test_nested_steps_super_op_with_declared_outputs_and_if_expression():
    inner = Steps("inner", inputs=Inputs(parameters={"x": InputParameter()}),
                  outputs=Outputs(parameters={"y": OutputParameter(), "big": OutputParameter()},
                                  artifacts={"f": OutputArtifact()}))
    s1 = Step("s1", PythonOPTemplate(ops.add), parameters={"a": inner.inputs.parameters["x"], "b": 2})
    s2 = Step("s2", PythonOPTemplate(ops.write_file),
              parameters={"name": "r.txt", "content": "x=%s" % inner.inputs.parameters["x"]})
    inner.add([s1, s2])
    inner.outputs.parameters["y"].value_from_parameter = s1.outputs.parameters["c"]
    inner.outputs.parameters["big"].value_from_expression = if_expression(
        _if=s1.outputs.parameters["c"] > 10, _then="big", _else="small")
    inner.outputs.artifacts["f"]._from = s2.outputs.artifacts["out"]
    wf = Workflow("nested")
    call = Step("call", inner, parameters={"x": 40})
    after = Step("after", PythonOPTemplate(ops.read_text), artifacts={"f": call.outputs.artifacts["f"]})
    wf.add(call)
    wf.add(after)
    run(wf)
    assert out(wf, "call", "y") == 42
    assert out(wf, "call", "big") == "big"
    assert out(wf, "after", "text") == "x=40"


def test_recursion_stops_with_when():
    loop = Steps("loop", inputs=Inputs(parameters={"i": InputParameter(), "n": InputParameter()}))
    inc = Step("inc", PythonOPTemplate(ops.add), parameters={"a": loop.inputs.parameters["i"]},
               key="iter-%s" % loop.inputs.parameters["i"])
    loop.add(inc)
    loop.add(Step("next", loop, parameters={"i": inc.outputs.parameters["c"], "n": loop.inputs.parameters["n"]},
                  when="%s < %s" % (inc.outputs.parameters["c"], loop.inputs.parameters["n"])))
    wf = Workflow("recurse")
    wf.add(Step("loop", loop, parameters={"i": 0, "n": 5}))
    run(wf)
    assert sorted(wf.query_keys_of_steps()) == [f"iter-{i}" for i in range(5)]
    skipped = wf.query_step(phase="Skipped")
    assert len(skipped) == 1 and skipped[0].name == "next"


def test_when_skips_and_continues():
    wf = Workflow("when")
    a = Step("a", PythonOPTemplate(ops.add), parameters={"a": 1})
    yes = Step("yes", PythonOPTemplate(ops.add), parameters={"a": 0},
               when="%s == 2" % a.outputs.parameters["c"])
    no = Step("no", PythonOPTemplate(ops.add), parameters={"a": 0},
              when="{{steps.a.outputs.parameters.c}} > 2 || false")
    wf.add(a)
    wf.add([yes, no])
    run(wf)
    phases = {s.name: s.phase for s in wf.query_step()}
    assert phases["yes"] == "Succeeded" and phases["no"] == "Skipped"


def test_with_param_range_len_sequence_and_enumerate():
    wf = Workflow("items")
    dup = Step("dup", PythonOPTemplate(ops.Duplicate), parameters={"msg": "m", "times": 3})
    wf.add(dup)
    by_len = Step("by-len", PythonOPTemplate(ops.add), parameters={"a": "{{item}}"},
                  with_param=argo_range(argo_len(dup.outputs.parameters["msgs"])), key="len-{{item}}")
    by_seq = Step("by-seq", PythonOPTemplate(ops.add), parameters={"a": "{{item}}", "b": 0},
                  with_sequence=argo_sequence(count=3, start=5))
    by_enum = Step("by-enum", PythonOPTemplate(ops.add), parameters={"a": "{{item.order}}", "b": "{{item.v}}"},
                   with_param=argo_enumerate(v=[10, 20]))
    by_list = Step("by-list", PythonOPTemplate(ops.add), parameters={"a": "{{item}}"}, with_param=[7, 8])
    wf.add([by_len, by_seq, by_enum, by_list])
    run(wf)
    assert out(wf, "by-len", "c") == [1, 2, 3]
    assert sorted(wf.query_keys_of_steps()) == ["len-0", "len-1", "len-2"]
    assert out(wf, "by-seq", "c") == [5, 6, 7]
    assert out(wf, "by-enum", "c") == [10, 21]
    assert out(wf, "by-list", "c") == [8, 9]


def test_keys_embed_parameters_and_items():
    loop = Steps("body", inputs=Inputs(parameters={"it": InputParameter()}))
    loop.add(Step("work", PythonOPTemplate(ops.add), parameters={"a": "{{item}}"}, with_param=[1, 2],
                  key="it-%s-work-{{item}}" % loop.inputs.parameters["it"]))
    wf = Workflow("keys")
    wf.add(Step("body", loop, parameters={"it": 3}))
    run(wf)
    assert sorted(wf.query_keys_of_steps()) == ["it-3-work-1", "it-3-work-2"]
    (step,) = wf.query_step(key="it-3-work-2")
    assert step.outputs.parameters["c"].value == 3


def test_function_ops_called_inside_a_workflow_context():
    with Workflow("functional") as wf:
        first = ops.add(a=1)
        ops.add(a=first.outputs.parameters["c"], b=5)
    assert wf.wait(timeout=60) == "Succeeded"
    assert out(wf, "add-2", "c") == 7


def test_upload_and_download_artifacts(tmp_path: Path):
    from hpcflow import download_artifact, upload_artifact

    src = tmp_path / "in.txt"
    src.write_text("payload")
    art = upload_artifact(src)
    src.write_text("changed later")  # the workflow sees the uploaded copy
    wf = Workflow("upload")
    rd = Step("read", PythonOPTemplate(ops.read_text), artifacts={"f": art})
    mk = Step("make", PythonOPTemplate(ops.make_dir), parameters={"n": 3})
    wf.add([rd, mk])
    run(wf)
    assert out(wf, "read", "text") == "payload"
    step = wf.query_step(name="make")[0]
    files = download_artifact(step.outputs.artifacts["files"], path=tmp_path / "dl")
    assert [Path(f).read_text() for f in files] == ["0", "1", "2"]
    (d,) = download_artifact(step.outputs.artifacts["out"], path=tmp_path / "dl2")
    assert sorted(p.name for p in Path(d).iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]
    # content hashes of every output artifact are recorded with the outputs
    import hashlib

    hashes = step.outputs.raw["hashes"]
    paths = step.outputs.raw["artifacts"]["files"]
    assert [hashes[p]["sha256"] for p in paths] == [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3)]
