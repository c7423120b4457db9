"""Slices that do not hold their own inputs (hpcflow.engine.slicing.SliceSource), node rows
whose inputs stay JSON text until read (RawJson), and array tasks made when read
(IndexedTasks): each must give exactly what the held representation gave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.engine.model import Node
from hpcflow.engine.run import WorkflowRun
from hpcflow.engine.slicing import SliceSource, take_slice
from hpcflow.python import OP, PythonOPTemplate, Slices
from hpcflow.scheduler.base import IndexedTasks
from hpcflow.scheduler.slurm.script import shared_argv
from hpcflow.store.db import Store
from hpcflow.store.rawjson import RawJson


@OP.function
def scale(x: int, factor: int) -> {"y": int}:
    return {"y": x * factor}


def _run(tmp_path: Path, step: Step) -> WorkflowRun:
    wf = Workflow("s")
    wf.add(step)
    row = {"id": "s-1", "name": wf.name, "spec": wf.to_spec(), "work_dir": str(tmp_path), "reuse": []}
    run = WorkflowRun(row, [])
    run.advance()
    return run


def _sliced(x: object, **slices: object) -> Step:
    return Step("fan", PythonOPTemplate(scale, slices=Slices(input_parameter=["x"], output_parameter=["y"],
                                                             **slices)),
                parameters={"x": x, "factor": 3})


def _slices(run: WorkflowRun) -> list[Node]:
    return sorted((n for n in run.nodes.values() if n.slice_index is not None), key=lambda n: n.slice_index)


def test_a_slice_derives_the_inputs_it_held_before(tmp_path: Path):
    run = _run(tmp_path, _sliced([10, 20, 30]))
    slices = _slices(run)
    assert all(isinstance(n.inputs_held, SliceSource) for n in slices)  # shared, not held
    assert slices[0].inputs_held is slices[2].inputs_held
    assert [n.inputs for n in slices] == [
        {"parameters": {"x": x, "factor": 3}, "artifacts": {}} for x in (10, 20, 30)]
    # the row written to the store is the JSON of those inputs, as json.dumps writes it
    row = slices[1].to_row()
    assert row["inputs"] == json.dumps(slices[1].inputs) and row["data"] == json.dumps(slices[1].data)


@OP.function
def pair(x: object, label: str, unit: str) -> {"y": str}:
    return {"y": f"{x}{label}{unit}"}


def test_the_json_of_a_slice_is_what_json_dumps_writes(tmp_path: Path):
    xs = [{"a": [1.5, None]}, "ünï \"q\"", 3, [True, 2e-300]]
    labels = ["l0", "l1", "l2", "l3"]
    step = Step("fan", PythonOPTemplate(pair, slices=Slices(input_parameter=["x", "label"], output_parameter=["y"])),
                parameters={"x": xs, "label": labels, "unit": "€"})
    slices = _slices(_run(tmp_path, step))
    assert [n.inputs["parameters"]["x"] for n in slices] == xs
    for node in slices:
        assert node.to_row()["inputs"] == json.dumps(node.inputs)


def test_a_changed_lazy_input_sticks_once_assigned_back(tmp_path: Path):
    node = _slices(_run(tmp_path, _sliced([1, 2])))[0]
    inputs = node.inputs
    inputs["parameters"]["x"] = 99
    assert node.inputs["parameters"]["x"] == 1  # derived anew: a change to a copy is lost
    node.inputs = inputs
    assert node.inputs["parameters"]["x"] == 99 and node.inputs_held is inputs


def test_a_sliced_parameter_given_as_json_text_is_decoded_once(tmp_path: Path):
    run = _run(tmp_path, _sliced("[5, 6, 7]"))
    source = _slices(run)[0].inputs_held
    assert isinstance(source, SliceSource) and source.static["parameters"]["x"] == [5, 6, 7]
    assert [n.inputs["parameters"]["x"] for n in _slices(run)] == [5, 6, 7]


def test_a_bad_slice_index_still_fails_the_step_when_it_is_instantiated(tmp_path: Path):
    from hpcflow import argo_range

    step = Step("fan", PythonOPTemplate(scale, slices=Slices("{{item}}", input_parameter=["x"],
                                                             output_parameter=["y"])),
                parameters={"x": [1, 2], "factor": 3}, with_param=argo_range(3))
    run = _run(tmp_path, step)
    fan = run.nodes["fan"]
    assert fan.phase == "Failed" and "slice 2 of input 'x' (length 2)" in (fan.message or "")


def test_slices_of_item_dependent_inputs_hold_their_own(tmp_path: Path):
    from hpcflow import argo_range

    step = Step("fan", PythonOPTemplate(scale, slices=Slices("{{item}}", input_parameter=["x"],
                                                             output_parameter=["y"])),
                parameters={"x": [1, 2], "factor": "{{item}}"}, with_param=argo_range(2))
    slices = _slices(_run(tmp_path, step))
    assert all(type(n.inputs_held) is dict for n in slices)
    assert [n.inputs["parameters"] for n in slices] == [{"x": 1, "factor": 0}, {"x": 2, "factor": 1}]


def test_take_slice_with_a_list_index_is_unchanged():
    inputs = {"parameters": {"x": [1, 2, 3]}, "artifacts": {"a": None}}
    spec = Slices(input_parameter=["x"], input_artifact=["a"])
    from hpcflow.spec.build import slices_spec
    from hpcflow.spec.model import SlicesSpec

    compiled = SlicesSpec.from_json(slices_spec(spec))
    assert compiled is not None
    assert take_slice(inputs, compiled, [0, 2]) == {"parameters": {"x": [1, 3]}, "artifacts": {"a": None}}


def test_a_reloaded_run_equals_the_saved_one(tmp_path: Path):
    run = _run(tmp_path, _sliced([10, 20, 30]))
    store = Store(tmp_path / "db.sqlite")
    store.create_workflow("s-1", "s", {}, str(tmp_path))
    with store.transaction():
        store.save_nodes("s-1", (n.to_row() for n in run.nodes.values()))
    rows = store.load_nodes("s-1", raw_inputs=True)
    loaded = {n.path: n for n in (Node.from_row(r) for r in rows)}
    assert set(loaded) == set(run.nodes)
    for path, node in run.nodes.items():
        again = loaded[path]
        assert again.inputs == node.inputs and again.data == node.data and again.phase == node.phase
    held = loaded["fan(1)"].inputs_held
    assert isinstance(held, RawJson)  # kept as text until read
    # saved again as it is (no re-encoding), and still read back the same
    with store.transaction():
        store.save_nodes("s-1", (n.to_row() for n in loaded.values()))
    assert {r["path"]: r["inputs"] for r in store.load_nodes("s-1")} == {
        p: n.inputs for p, n in run.nodes.items()}


def test_indexed_tasks_are_the_argv_they_stand_for():
    tasks = IndexedTasks(("py", "-m", "hpcflow.runtime", "--index"), 3)
    spelled = (("py", "-m", "hpcflow.runtime", "--index", "0"), ("py", "-m", "hpcflow.runtime", "--index", "1"),
               ("py", "-m", "hpcflow.runtime", "--index", "2"))
    assert len(tasks) == 3 and tuple(tasks) == spelled and tasks == spelled
    assert tasks[-1] == spelled[-1] and tasks[1:] == spelled[1:]
    with pytest.raises(IndexError):
        tasks[3]
    assert shared_argv(tasks) == shared_argv(spelled) == ["py", "-m", "hpcflow.runtime", "--index"]
