"""The result cache in local mode: identical units are never computed twice, across
workflows of one store; a changed input reruns only its slice and what depends on it;
cached files that vanished or changed are computed again (never a failure)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hpcflow import Step, Workflow, upload_artifact
from hpcflow.python import PythonOPTemplate, Slices
from hpcflow.scheduler.local import LocalScheduler
from tests.integration import cache_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")

N = 20


@pytest.fixture
def submissions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every job the local scheduler is asked to run (counted at the scheduler)."""
    seen: list[Any] = []
    real = LocalScheduler.submit

    def counting(self: LocalScheduler, job: Any) -> Any:
        seen.append(job)
        return real(self, job)

    monkeypatch.setattr(LocalScheduler, "submit", counting)
    return seen


def make_inputs(root: Path) -> list[Path]:
    root.mkdir(exist_ok=True)
    files = []
    for i in range(N):
        path = root / f"in{i}.txt"
        path.write_text(f"value {i}")
        files.append(path)
    return files


def screen(name: str, files: list[Path], log_dir: Path) -> Workflow:
    """upper (20 slices) → measure (20 slices of upper's outputs), both cached."""
    wf = Workflow(name)
    up = Step("upper", PythonOPTemplate(ops.upper, cache=True, slices=Slices(
        input_artifact=["f"], output_artifact=["out"])),
        artifacts={"f": upload_artifact(files)}, parameters={"log_dir": str(log_dir)})
    ms = Step("measure", PythonOPTemplate(ops.measure, cache=True, slices=Slices(
        input_artifact=["f"], output_parameter=["n"])),
        artifacts={"f": up.outputs.artifacts["out"]}, parameters={"log_dir": str(log_dir)})
    wf.add(up)
    wf.add(ms)
    return wf


def run(wf: Workflow) -> Workflow:
    wf.submit()
    assert wf.wait(timeout=180) == "Succeeded", [(s.path, s.phase, s.message) for s in wf.query_step()]
    return wf


def executions(log_dir: Path, name: str) -> int:
    path = log_dir / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def units(wf: Workflow, name: str) -> list[Any]:
    return sorted(wf.query_step(name=name, type="Pod"), key=lambda s: s.slice_index)


def test_an_unchanged_rerun_is_all_hits_and_submits_nothing(tmp_path: Path, submissions: list[Any]):
    files, log = make_inputs(tmp_path / "inputs"), tmp_path / "log"
    log.mkdir()
    first = run(screen("first", files, log))
    assert executions(log, "upper") == N and executions(log, "measure") == N
    assert submissions
    submissions.clear()
    second = run(screen("second", files, log))
    assert submissions == []  # no job at all
    assert executions(log, "upper") == N and executions(log, "measure") == N
    for name in ("upper", "measure"):
        steps = units(second, name)
        assert len(steps) == N and all(s.phase == "Succeeded" and s.attempts == 0 for s in steps)
        assert [s.cached["workflow"] for s in steps] == [first.id] * N
        assert [s.cached["step"] for s in steps] == [s.path for s in units(first, name)]
    measured = second.query_step(name="measure", type="FanOut")[0].outputs.parameters["n"].value
    assert measured == [len(f"value {i}") for i in range(N)]


def test_touching_every_input_file_still_hits(tmp_path: Path, submissions: list[Any]):
    files, log = make_inputs(tmp_path / "inputs"), tmp_path / "log"
    log.mkdir()
    first = run(screen("first", files, log))
    later = os.stat(files[0]).st_mtime + 100
    produced = [s.outputs.raw["artifacts"]["out"] for s in units(first, "upper")]
    for path in [*files, *produced]:  # the user's inputs and the cached outputs
        os.utime(path, (later, later))
    submissions.clear()
    second = run(screen("second", files, log))
    assert submissions == []
    assert all(s.cached for s in units(second, "upper") + units(second, "measure"))
    assert executions(log, "upper") == N and executions(log, "measure") == N


def test_one_changed_byte_reruns_that_slice_and_its_dependants_only(tmp_path: Path):
    files, log = make_inputs(tmp_path / "inputs"), tmp_path / "log"
    log.mkdir()
    run(screen("first", files, log))
    files[7].write_text("value 7!")
    second = run(screen("second", files, log))
    assert executions(log, "upper") == N + 1 and executions(log, "measure") == N + 1
    for name in ("upper", "measure"):
        missed = [s.slice_index for s in units(second, name) if not s.cached]
        assert missed == [7], name
    assert units(second, "measure")[7].outputs.parameters["n"].value == len("value 7!")


def test_a_deleted_output_file_is_computed_again(tmp_path: Path):
    files, log = make_inputs(tmp_path / "inputs"), tmp_path / "log"
    log.mkdir()
    first = run(screen("first", files, log))
    os.remove(units(first, "upper")[3].outputs.raw["artifacts"]["out"])
    second = run(screen("second", files, log))
    assert [s.slice_index for s in units(second, "upper") if not s.cached] == [3]
    assert executions(log, "upper") == N + 1
    # the recomputed file has the same content, so what reads it is still a hit
    assert executions(log, "measure") == N
    assert all(s.cached for s in units(second, "measure"))
    third = run(screen("third", files, log))  # the new result is cached in turn
    assert all(s.cached for s in units(third, "upper"))


def test_a_step_without_cache_runs_every_time(tmp_path: Path):
    files, log = make_inputs(tmp_path / "inputs")[:2], tmp_path / "log"
    log.mkdir()
    for name in ("a", "b"):
        wf = Workflow(name)
        wf.add(Step("upper", PythonOPTemplate(ops.upper, cache=True), cache=False,
                    artifacts={"f": upload_artifact(files[0])}, parameters={"log_dir": str(log)}))
        run(wf)
    assert executions(log, "upper") == 2


def test_a_shell_template_is_keyed_by_its_script(tmp_path: Path):
    from hpcflow import InputParameter, Inputs, OutputParameter, Outputs, ShellOPTemplate

    log = tmp_path / "shell.log"

    def doubled(name: str, script: str) -> Workflow:
        tmpl = ShellOPTemplate(script=script, cache=True,
                               inputs=Inputs(parameters={"n": InputParameter()}),
                               outputs=Outputs(parameters={"y": OutputParameter(value_from_path="y.txt")}))
        wf = Workflow(name)
        wf.add(Step("double", tmpl, parameters={"n": 21}))
        return run(wf)

    script = f"echo run >> {log}\necho $(({{{{inputs.parameters.n}}}} * 2)) > y.txt\n"
    first = doubled("a", script)
    second = doubled("b", script)
    changed = doubled("c", script.replace("* 2", "* 2 + 0"))
    assert log.read_text().splitlines() == ["run", "run"]  # a and c ran, b was a hit
    assert units(second, "double")[0].cached["workflow"] == first.id
    assert not units(changed, "double")[0].cached
    assert units(changed, "double")[0].outputs.parameters["y"].value == "42"
