"""Test helpers: build unit directories the way the engine does and run the real runtime.

``make_unit`` compiles a template with :class:`SpecBuilder` and writes the task record
:func:`hpcflow.engine.launch.prepare_attempt` builds into ``task.json`` (with a minimal stand-in for the
workflow run), so the task file, the attempt directory and the shipped pickle of a
``__main__`` OP are exactly what a real workflow would produce.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hpcflow
from hpcflow import codec
from hpcflow.engine.hashes import HashIndex
from hpcflow.engine.launch import prepare_attempt, task_record
from hpcflow.engine.model import POD, Node
from hpcflow.runtime import records as rec
from hpcflow.spec.build import SpecBuilder
from hpcflow.spec.model import OPTemplateSpec

REPO_ROOT = Path(hpcflow.__file__).resolve().parent.parent

_steps = itertools.count()


def make_unit(
    tmp_path: Path,
    template: Any,
    parameters: dict[str, Any] | None = None,
    artifacts: dict[str, Any] | None = None,
    slice_index: int | None = None,
    step: str | None = None,
    hashes: HashIndex | None = None,
) -> Path:
    """Compile ``template`` and write a unit directory under ``tmp_path``; return its path.

    Args:
        parameters: Python values; they are codec-encoded as the engine stores them.
        artifacts: a path, a list of paths or a dict of paths per input artifact.
        hashes: the content hashes producers recorded (what the engine's run keeps).
    """
    name = template.name
    compiled = OPTemplateSpec.from_json(SpecBuilder().compile(template, name))
    run = SimpleNamespace(
        id="wf-test",
        name="test",
        work_dir=str(tmp_path / "run"),
        templates={name: compiled},
        hashes=hashes or HashIndex(),
        step_spec=lambda node: None,  # a unit on its own: no step, so no executor
        op_template=lambda node: compiled,
    )
    inputs = {
        "parameters": {k: codec.encode(v) for k, v in (parameters or {}).items()},
        "artifacts": {k: _plain_paths(v) for k, v in (artifacts or {}).items()},
    }
    path = step or f"step-{next(_steps)}"
    node = Node(
        path=path,
        parent=None,
        name=path,
        template=name,
        type=POD,
        inputs_held=inputs,
        slice_index=slice_index,
    )
    planned = prepare_attempt(run, node)  # type: ignore[arg-type]
    task = task_record(run, node, planned.number)  # type: ignore[arg-type]
    # A unit directory with its own task.json: the layout the runtime reads when it is given
    # bare directories (attempts prepared before task lists; Kubernetes pods).
    planned.dir.mkdir(parents=True, exist_ok=True)
    (planned.dir / rec.TASK_FILE).write_text(json.dumps(task), encoding="utf-8")
    return planned.dir


def _plain_paths(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_paths(v) for k, v in value.items()}
    return None if value is None else str(value)


def runtime_env(*extra_paths: str | Path) -> dict[str, str]:
    """The environment of a job: hpcflow and ``extra_paths`` importable."""
    paths = [str(REPO_ROOT), *(str(p) for p in extra_paths)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_units(
    *dirs: Path,
    pool: int | None = None,
    extra_paths: tuple[str | Path, ...] = (),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hpcflow.runtime [--pool N] DIR...`` as a real subprocess.

    PYTHONPATH holds the repository root and the directory of the calling test file, so
    OPs defined in the test module are importable by the job, as the engine arranges.
    """
    argv = [sys.executable, "-m", "hpcflow.runtime"]
    if pool is not None:
        argv += ["--pool", str(pool)]
    argv += [str(d) for d in dirs]
    test_dir = Path(sys._getframe(1).f_code.co_filename).resolve().parent
    return subprocess.run(
        argv,
        env=runtime_env(test_dir, *extra_paths),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_exit(unit_dir: Path) -> dict[str, Any]:
    record = rec.read_exit(unit_dir)
    assert record is not None, f"no {rec.EXIT_FILE} in {unit_dir}: {read_log(unit_dir)}"
    return record


def read_outputs(unit_dir: Path) -> dict[str, Any]:
    """A succeeded unit's outputs (in its exit record, or ``outputs.json`` when large)."""
    record = read_exit(unit_dir)
    assert record["status"] == "succeeded", f"{unit_dir} failed: {record.get('message')}"
    return rec.read_outputs(Path(unit_dir), record)


def read_task(unit_dir: Path) -> dict[str, Any]:
    return json.loads((Path(unit_dir) / rec.TASK_FILE).read_text(encoding="utf-8"))


def read_log(unit_dir: Path) -> str:
    """The unit's log: its own file, or its part of the job's merged log."""
    found = rec.read_unit_log(Path(unit_dir))
    return found[1] if found is not None else ""


def count(log: Path, name: str) -> int:
    """How many times an OP of tests/integration/wf_ops.py recorded ``name`` in ``log``."""
    path = Path(log) / name
    return len(path.read_text().splitlines()) if path.exists() else 0


class Crash(Exception):
    """The engine 'dies' (see :class:`CrashAfterSubmit`)."""


class CrashAfterSubmit:
    """A scheduler that really submits, then raises: the engine crashed before it could
    record the job ids. Everything else goes to the real scheduler."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.name = real.name

    def submit(self, job: Any) -> Any:
        self.real.submit(job)
        raise Crash("the engine died right after submitting")

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.real, attr)


class AcceptedThenUnreachable:
    """A scheduler whose first submission goes through but is reported as a timeout (an
    ``sbatch`` that timed out after the controller took the job), after which every
    lookup and poll fails for ``down_calls`` calls, as while the controller is down."""

    def __init__(self, real: Any, down_calls: int) -> None:
        from hpcflow.errors import SchedulerUnavailable

        self.real = real
        self.name = real.name
        self.down_calls = down_calls
        self.submissions = 0
        self.failed_lookups = 0
        self._unavailable = SchedulerUnavailable

    def submit(self, job: Any) -> Any:
        self.submissions += 1
        submitted = self.real.submit(job)
        if self.submissions == 1:
            raise self._unavailable("sbatch: timed out waiting for the controller")
        return submitted

    def _down(self, what: str) -> None:
        if self.down_calls > 0:
            self.down_calls -= 1
            self.failed_lookups += 1
            raise self._unavailable(f"{what}: Unable to contact slurm controller")

    def adopt(self, tags: Any) -> Any:
        self._down("squeue (adopt)")
        return self.real.adopt(tags)

    def poll(self, ids: Any) -> Any:
        self._down("squeue (poll)")
        return self.real.poll(ids)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.real, attr)


def entries_per_slice(attempts: list[dict[str, Any]]) -> dict[str, int]:
    """Files and directories on the work root that belong to each slice: its directory
    (named after the slice) and everything below it."""
    out = {}
    for att in attempts:
        if "(" not in att["node_path"]:
            continue
        slice_dir = Path(att["dir"]).parent
        out[att["node_path"]] = 1 + sum(1 for _ in slice_dir.rglob("*")) if slice_dir.exists() else 0
    return out


def job_dirs(attempts: list[dict[str, Any]], work_dir: Path) -> dict[str, list[str]]:
    """The names in each job's directory (``jobs/<tag>``): what a job keeps per array."""
    tags = {a["tag"] for a in attempts}
    return {t: sorted(p.name for p in (work_dir / "jobs" / t).iterdir()) for t in tags
            if (work_dir / "jobs" / t).is_dir()}
