"""Slices: stacking, artifacts, sub_path, group_size/pool_size, inferred width, empty fan-out."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import Step, Workflow, argo_len, argo_range
from hpcflow.python import PythonOPTemplate, Slices
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


def run(wf: Workflow, expect: str = "Succeeded") -> Workflow:
    wf.submit()
    assert wf.wait(timeout=120) == expect, [(s.path, s.phase, s.message) for s in wf.query_step()]
    return wf


def test_sliced_parameters_stack_in_order_with_inferred_width():
    wf = Workflow("slices")
    values = [3.0, 1.0, 2.0, 5.0, 4.0]
    sq = Step("sq", PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
              parameters={"x": values})
    tot = Step("tot", PythonOPTemplate(ops.total), parameters={"values": sq.outputs.parameters["y"]})
    wf.add(sq)
    wf.add(tot)
    run(wf)
    step = wf.query_step(name="sq", type="FanOut")[0]
    assert step.outputs.parameters["y"].value == [v * v for v in values]
    assert len(wf.query_step(name="sq", type="Pod")) == 5
    assert wf.query_step(name="tot")[0].outputs.parameters["sum"].value == sum(v * v for v in values)


def test_sliced_artifacts_merge_into_one_list_and_sub_path():
    wf = Workflow("artslices")
    write = Step("write", PythonOPTemplate(ops.write_file, slices=Slices(
        "{{item}}", input_parameter=["content"], output_artifact=["out"])),
        parameters={"name": "data/out.txt", "content": ["a", "b", "c"]}, with_param=argo_range(3))
    wf.add(write)
    read_each = Step("read-each", PythonOPTemplate(ops.read_text, slices=Slices(
        input_artifact=["f"], output_parameter=["text"], sub_path=True)),
        artifacts={"f": write.outputs.artifacts["out"]})
    read_all = Step("read-all", PythonOPTemplate(ops.read_all), artifacts={"files": write.outputs.artifacts["out"]})
    wf.add([read_each, read_all])
    run(wf)
    assert wf.query_step(name="read-all")[0].outputs.parameters["texts"].value == ["a", "b", "c"]
    assert wf.query_step(name="read-each", type="FanOut")[0].outputs.parameters["text"].value == ["a", "b", "c"]


def test_artifact_sub_path_of_a_directory():
    wf = Workflow("subpath")
    mk = Step("mk", PythonOPTemplate(ops.make_dir), parameters={"n": 2})
    rd = Step("rd", PythonOPTemplate(ops.read_text), artifacts={"f": mk.outputs.artifacts["out"].sub_path("f1.txt")})
    wf.add(mk)
    wf.add(rd)
    run(wf)
    assert wf.query_step(name="rd")[0].outputs.parameters["text"].value == "1"


@pytest.mark.parametrize("group_size,pool_size", [(4, None), (3, 2)])
def test_group_size_packs_slices_into_fewer_jobs(group_size, pool_size, hpcflow_home: Path):
    n = 10
    wf = Workflow("groups")
    sq = Step("sq", PythonOPTemplate(ops.square, slices=Slices(
        input_parameter=["x"], output_parameter=["y"], group_size=group_size, pool_size=pool_size)),
        parameters={"x": list(range(n))})
    wf.add(sq)
    run(wf)
    assert wf.query_step(name="sq", type="FanOut")[0].outputs.parameters["y"].value == [i * i for i in range(n)]
    # every slice has its own exit record, and one job ran per group of slices
    attempts = wf._client.store.attempts(wf.id)
    jobs = {a["job_id"] for a in attempts}
    assert len(attempts) == n
    assert len(jobs) == -(-n // group_size)


def test_empty_fan_out_succeeds_with_empty_outputs():
    wf = Workflow("empty")
    dup = Step("dup", PythonOPTemplate(ops.Duplicate), parameters={"msg": "x", "times": 0})
    sq = Step("sq", PythonOPTemplate(ops.add), parameters={"a": "{{item}}"},
              with_param=argo_range(argo_len(dup.outputs.parameters["msgs"])))
    tot = Step("tot", PythonOPTemplate(ops.total), parameters={"values": sq.outputs.parameters["c"]})
    wf.add(dup)
    wf.add(sq)
    wf.add(tot)
    run(wf)
    assert wf.query_step(name="tot")[0].outputs.parameters["n"].value == 0
