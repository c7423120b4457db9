"""Early launches as data: which steps are chained, the sbatch argv, deferred inputs read
by the runtime, and the spec fields (fuse, TaskRecord.deferred)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import Step, Steps, Workflow
from hpcflow.engine import model as m
from hpcflow.engine.chain import ChainOptions
from hpcflow.engine.run import WorkflowRun
from hpcflow.python import PythonOPTemplate
from hpcflow.runtime import deferred
from hpcflow.runtime import records as rec
from hpcflow.runtime.execute import _kind
from hpcflow.scheduler.slurm.argv import dependency_option, sbatch_argv
from hpcflow.spec.model import SPEC_VERSION, TaskRecord, WorkflowSpec
from tests.integration import chain_ops as ops


def _run(tmp_path: Path, wf: Workflow, jobs: bool = True, fuse: bool = True) -> WorkflowRun:
    row = {"id": "c-1", "name": wf.name, "spec": wf.to_spec(), "work_dir": str(tmp_path), "reuse": []}
    run = WorkflowRun(row, [])
    run.chaining = ChainOptions(jobs=jobs, fuse=fuse)
    return run


def _chain(n: int, **step_options) -> Workflow:
    wf = Workflow("c")
    prev = None
    for i in range(n):
        x = 0 if prev is None else prev.outputs.parameters["y"]
        options = step_options if i == 2 else {}
        prev = Step(f"s{i}", PythonOPTemplate(ops.step), parameters={"x": x, "log_dir": "/l", "tag": "t"},
                    **options)
        wf.add(prev)
    return wf


def test_a_chain_is_instantiated_at_once_with_deferred_inputs(tmp_path: Path):
    run = _run(tmp_path, _chain(4))
    run.advance()
    assert list(run.launches) == ["s0", "s1", "s2", "s3"]
    s2 = run.nodes["s2"]
    assert s2.data["deferred"] == {"parameters": {"x": {"step": "s1", "output": "y"}}}
    assert s2.data["after"] == ["s1"] and s2.data["chain"] == 2
    assert "x" not in s2.inputs["parameters"] and s2.inputs["parameters"]["tag"] == "t"


def test_without_scheduler_dependencies_nothing_is_launched_early(tmp_path: Path):
    run = _run(tmp_path, _chain(4), jobs=False)
    run.advance()
    assert list(run.launches) == ["s0"] and "s1" not in run.nodes


@pytest.mark.parametrize("options", [{"when": "1 == 1"}, {"continue_on_failed": True},
                                     {"key": "k"}])
def test_a_step_with_a_condition_threshold_or_key_stops_the_chain(tmp_path: Path, options: dict):
    run = _run(tmp_path, _chain(4, **options))
    run.advance()
    assert list(run.launches) == ["s0", "s1"]


def test_an_expression_on_a_running_output_stops_the_chain(tmp_path: Path):
    wf = Workflow("c")
    a = Step("a", PythonOPTemplate(ops.step), parameters={"x": 1, "log_dir": "/l", "tag": "t"})
    wf.add(a)
    wf.add(Step("b", PythonOPTemplate(ops.step), parameters={
        "x": "{{=steps.a.outputs.parameters.y + 1}}", "log_dir": "/l", "tag": "t"}))
    run = _run(tmp_path, wf)
    run.advance()
    assert list(run.launches) == ["a"]


def test_a_failed_producer_withdraws_its_chained_dependants(tmp_path: Path):
    run = _run(tmp_path, _chain(3))
    run.advance()
    for i, name in enumerate(("s0", "s1", "s2")):  # as planning leaves them
        node = run.nodes[name]
        node.phase, node.attempts = m.RUNNING, 1
        if i:
            node.data["chained_to"] = {f"s{i - 1}": 1}
    run.launches.clear()
    run.nodes["s0"].phase = m.PENDING  # as a failed attempt that will be retried leaves it
    run.advance()
    assert set(run.withdrawn) == {"s1", "s2"}  # s2 follows s1, withdrawn first
    assert run.nodes["s1"].phase == run.nodes["s2"].phase == m.PENDING
    assert run.nodes["s1"].retries == 0 and "chained_to" not in run.nodes["s1"].data


def test_a_producer_failed_for_good_omits_the_rest(tmp_path: Path):
    run = _run(tmp_path, _chain(3))
    run.advance()
    for name in ("s1", "s2"):
        run.nodes[name].phase, run.nodes[name].attempts = m.RUNNING, 1
    run.nodes["s0"].phase = m.FAILED
    run.advance()
    assert run.nodes[""].phase == m.FAILED
    assert run.nodes["s1"].phase == run.nodes["s2"].phase == m.OMITTED
    assert set(run.withdrawn) == {"s1", "s2"}


def test_fusion_needs_fuse_and_matching_resources(tmp_path: Path):
    steps = Steps("f", fuse=True)
    a = Step("a", PythonOPTemplate(ops.step), parameters={"x": 1, "log_dir": "/l", "tag": "t"})
    steps.add(a)
    b = Step("b", PythonOPTemplate(ops.step), parameters={"x": a.outputs.parameters["y"], "log_dir": "/l",
                                                          "tag": "t"})
    steps.add(b)
    c = Step("c", PythonOPTemplate(ops.step, resources={"cpus": 4}),
             parameters={"x": b.outputs.parameters["y"], "log_dir": "/l", "tag": "t"})
    steps.add(c)
    run = _run(tmp_path, Workflow("f", steps=steps), jobs=False)
    run.advance()
    assert run.nodes["b"].data["fuse"] == "a"
    assert "c" not in run.nodes  # other resources: not in b's job, and no dependencies here


def test_sbatch_argv_with_dependencies():
    argv = sbatch_argv("/w/job.sh", workdir="/w", depends_on=["12", "13_4", "12"])
    assert argv == ["sbatch", "--parsable", "--chdir=/w", "--dependency=afterok:12:13_4",
                    "--kill-on-invalid-dep=yes", "/w/job.sh", "0"]
    assert not any("dependency" in a for a in sbatch_argv("/w/job.sh", workdir="/w"))
    with pytest.raises(ValueError, match="not a Slurm job"):
        dependency_option(["12;scancel -u root"])


def _producer(tmp_path: Path, name: str, outputs: dict | None, status: str = "succeeded") -> Path:
    d = tmp_path / name
    d.mkdir()
    if outputs is not None:
        rec.write_json_atomic(d / rec.OUTPUTS_FILE, outputs)
    if status:
        rec.write_json_atomic(d / rec.EXIT_FILE, {"status": status, "message": "it broke"})
    return d


def _task(tmp_path: Path, sources: dict) -> TaskRecord:
    spec = _chain(1).build()
    return TaskRecord(workflow="w", step="b", template=spec.op_template(next(
        k for k, t in spec.templates.items() if t.kind == "python")), parameters={"tag": "t"},
        deferred=sources)


def test_deferred_inputs_are_read_from_the_producers(tmp_path: Path):
    one = _producer(tmp_path, "one", {"parameters": {"y": 3}, "artifacts": {"out": "/a/1"},
                                      "hashes": {"/a/1": {"sha256": "ab", "stat": "s"}}})
    two = _producer(tmp_path, "two", {"parameters": {"y": 4}, "artifacts": {"out": ["/a/2", "/a/3"]}})
    task = _task(tmp_path, {
        "parameters": {"x": {"step": "a", "output": "y", "units": [{"dir": str(one)}]},
                       "ys": {"step": "f", "output": "y", "stack": True,
                              "units": [{"value": 2}, {"dir": str(one)}, {"dir": str(two)}]}},
        "artifacts": {"files": {"step": "f", "output": "out", "stack": True,
                                "units": [{"value": None}, {"dir": str(one)}, {"dir": str(two)}]}},
    })
    got = deferred.resolve(task)
    assert got.parameters == {"tag": "t", "x": 3, "ys": [2, 3, 4]}
    assert got.artifacts == {"files": ["/a/1", "/a/2", "/a/3"]}
    assert got.input_hashes["/a/1"] == {"sha256": "ab", "stat": "s", "step": "f"}
    assert got.deferred == {}
    assert TaskRecord.from_json(task.to_json()).deferred == task.deferred


def test_a_missing_producer_record_is_transient_and_a_failed_one_fatal(tmp_path: Path):
    missing = _producer(tmp_path, "missing", None, status="")
    failed = _producer(tmp_path, "failed", None, status="failed")
    no_output = _producer(tmp_path, "no-output", {"parameters": {}})
    for where, kind, words in ((missing, "transient", "no exit record"), (failed, "fatal", "it broke"),
                               (no_output, "fatal", "did not output")):
        task = _task(tmp_path, {"parameters": {"x": {"step": "a", "output": "y", "units": [{"dir": str(where)}]}}})
        with pytest.raises(Exception, match=words) as info:
            deferred.resolve(task)
        assert _kind(info.value) == kind
        assert "step b" in str(info.value) and "step a" in str(info.value)


def test_fuse_round_trips_in_the_spec_and_older_specs_read_as_unfused():
    spec = Workflow("f", steps=Steps("f-steps", fuse=True)).build()
    data = spec.to_json()
    assert data["version"] == SPEC_VERSION == 3 and data["templates"]["f-steps"]["fuse"] is True
    assert WorkflowSpec.from_json(data).templates["f-steps"].fuse is True
    data["version"] = 2
    del data["templates"]["f-steps"]["fuse"]
    assert WorkflowSpec.from_json(data).templates["f-steps"].fuse is False


def test_a_fused_sequence_stops_at_the_first_failure(tmp_path: Path):
    from hpcflow.runtime.group import main

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()  # first has no task.json: it fails, with an exit record saying so
    assert main(["--sequence", str(first), str(second)]) == 1
    assert rec.read_exit(first)["status"] == "failed"
    assert rec.read_exit(second) is None  # never started


def _diamond() -> Workflow:
    from hpcflow import DAG, Task

    dag = DAG("d")
    a = Task("a", PythonOPTemplate(ops.step), parameters={"x": 1, "log_dir": "/l", "tag": "a"})
    b = Task("b", PythonOPTemplate(ops.step), parameters={"x": a.outputs.parameters["y"], "log_dir": "/l",
                                                          "tag": "b"})
    c = Task("c", PythonOPTemplate(ops.step), parameters={"x": a.outputs.parameters["y"], "log_dir": "/l",
                                                          "tag": "c"})
    d = Task("d", PythonOPTemplate(ops.total), parameters={
        "ys": [b.outputs.parameters["y"], c.outputs.parameters["y"]], "log_dir": "/l", "tag": "d"})
    for t in (a, b, c, d):
        dag.add(t)
    return Workflow("d", dag=dag)


def test_dag_tasks_behind_running_ones_are_launched_early(tmp_path: Path):
    run = _run(tmp_path, _diamond())
    run.advance()
    # d's input is a list of two references, not one whole-value reference: it waits.
    assert list(run.launches) == ["a", "b", "c"]
    assert run.nodes["b"].data["after"] == ["a"] and "d" not in run.nodes


def test_a_dag_task_whose_chained_dependency_fails_is_omitted(tmp_path: Path):
    run = _run(tmp_path, _diamond())
    run.advance()
    for name in ("a", "b", "c"):
        run.nodes[name].phase, run.nodes[name].attempts = m.RUNNING, 1
    run.nodes["b"].data["chained_to"] = {"a": 1}
    run.nodes["a"].phase = m.FAILED
    run.advance()
    assert run.nodes["b"].phase == m.OMITTED and "b" in run.withdrawn
    assert "dependency a failed" in run.nodes["b"].message


def test_a_fan_out_sliced_over_a_running_fan_out_reads_one_output_per_slice(tmp_path: Path):
    run = _run(tmp_path, ops.fan_fan_reduce("ff", 3, "/l"))
    run.advance()
    assert [p for p in run.launches] == ["a(0)", "a(1)", "a(2)", "b(0)", "b(1)", "b(2)", "total"]
    assert run.nodes["b(2)"].data["deferred"]["parameters"]["x"] == {"step": "a", "output": "y", "index": 2}
    assert run.nodes["total"].data["deferred"]["parameters"]["ys"] == {"step": "b", "output": "y"}
    for i in range(3):  # a succeeds: b's slices get their own element of a's outputs
        a = run.nodes[f"a({i})"]
        a.phase, a.outputs = m.SUCCEEDED, {"parameters": {"y": i + 1}, "artifacts": {}}
    run.advance()
    assert [run.nodes[f"b({i})"].inputs["parameters"]["x"] for i in range(3)] == [1, 2, 3]
    assert "deferred" not in run.nodes["b(1)"].data


def test_a_fan_out_waiting_for_too_many_units_is_not_launched_early(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    from hpcflow.engine import chain

    monkeypatch.setattr(chain, "MAX_LINKS", 8)  # b's 3 slices would each wait for a's 3
    run = _run(tmp_path, ops.fan_fan_reduce("ff", 3, "/l"))
    run.advance()
    assert list(run.launches) == ["a(0)", "a(1)", "a(2)"] and "b" not in run.nodes


def _sequence_list(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A fused job's task list (one task: unit a, then unit b reading a's ``y``)."""
    from hpcflow.runtime.tasklist import write_task_list

    spec = _chain(1).build()
    tmpl = spec.op_template(next(k for k, t in spec.templates.items() if t.kind == "python"))
    first, second = tmp_path / name / "a" / "attempt-1", tmp_path / name / "b" / "attempt-1"
    a = TaskRecord(workflow="w", step="a", template=tmpl, op=tmpl.op,
                   parameters={"x": 1, "log_dir": str(tmp_path), "tag": "a"})
    b = TaskRecord(workflow="w", step="b", template=tmpl, op=tmpl.op,
                   parameters={"log_dir": str(tmp_path), "tag": "b"},
                   deferred={"parameters": {"x": {"step": "a", "output": "y",
                                                  "units": [{"dir": str(first)}]}}})
    tasks = tmp_path / name / "jobs" / "t" / "tasks.jsonl"
    write_task_list(tasks, [[(str(first), a.to_json()), (str(second), b.to_json())]],
                    log=str(tasks.parent / "units.log"))
    return tasks, first, second


def test_a_fused_task_of_a_task_list_runs_its_units_in_order_each_in_its_own_dir(tmp_path: Path):
    from hpcflow.runtime.group import main

    tasks, first, second = _sequence_list(tmp_path, "ok")
    assert not first.exists() and not second.exists()  # the runtime makes them
    assert main(["--sequence", "--tasks", str(tasks), "--index", "0"]) == 0
    one, two = rec.read_exit(first), rec.read_exit(second)
    assert one["status"] == two["status"] == "succeeded"
    # b read a's output from a's exit record (no outputs.json in the task-list layout)
    assert not (first / rec.OUTPUTS_FILE).exists()
    assert one["outputs"]["parameters"]["y"] == 2 and two["outputs"]["parameters"]["y"] == 3


def test_a_fused_task_of_a_task_list_stops_at_the_first_failure(tmp_path: Path):
    from hpcflow.runtime.group import main

    tasks, first, second = _sequence_list(tmp_path, "bad")
    (tmp_path / "fatal-a").touch()
    assert main(["--sequence", "--tasks", str(tasks), "--index", "0"]) == 1
    assert rec.read_exit(first)["status"] == "failed"
    assert not second.exists()  # never started: no directory, no record
    assert not (tmp_path / "b").exists()


def test_deferred_inputs_read_outputs_kept_in_the_exit_record(tmp_path: Path):
    inline = tmp_path / "inline"
    inline.mkdir()
    rec.write_json_atomic(inline / rec.EXIT_FILE, {"status": "succeeded",
                                                   "outputs": {"parameters": {"y": 9}}})
    task = _task(tmp_path, {"parameters": {"x": {"step": "a", "output": "y", "units": [{"dir": str(inline)}]}}})
    assert deferred.resolve(task).parameters["x"] == 9
