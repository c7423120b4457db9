"""A job's Python imports only what running its unit needs.

Every array task is a new interpreter, and on a cluster whose tasks share cores each
10 ms of import CPU per task costs seconds per 200-task array (bench/README.md). These
modules were taken off the job path; a change that imports one again at module level
(``import dataclasses`` in the spec model, ``tempfile`` in the records, ``inspect`` for
function OPs, the expression parser through the DSL, ``pathlib`` for the records' paths)
fails here.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpcflow.python import PythonOPTemplate
from hpcflow.runtime import records as rec
from tests.helpers import make_unit, runtime_env

#: Taken off the job path (with what pulled them in).
NOT_ON_THE_JOB_PATH = {
    "dataclasses",  # spec model and settings (now hpcflow.frozen)
    "inspect",  # dataclasses; function OPs' signatures (read from their code)
    "tempfile", "shutil", "random",  # records' atomic writes (hpcflow.runtime.tmpfiles)
    "linecache", "tokenize",  # hooks (only a step with hooks compiles them)
    "hpcflow.spec.expr",  # the DSL's references, imported by a module of OPs
    "signal",  # only a step with a timeout sets an alarm
    "copy", "weakref",  # the DSL's StepOutputs (copied when a workflow is queried)
    "cloudpickle", "pickle", "platform", "subprocess", "traceback", "sqlite3",
    # only a unit with hooks, with recorded input hashes or output artifacts, or a failure
    "hpcflow.runtime.hooks", "hpcflow.runtime.integrity", "hpcflow.runtime.fserrors",
    # the DSL's `with` blocks, queries and submission (a module of OPs imports the DSL)
    "hpcflow.context", "contextvars", "hpcflow.dsl.query", "hpcflow.private",
    "pwd",  # the user name, when $USER is not set (jobs have it)
    "fcntl",  # the merged log is appended under os.lockf
    # the settings (hpcflow/__init__'s Dflow options; the DSL's Workflow), the records'
    # and the task list's paths, the OP signatures' Path checks (hpcflow.pathtypes)
    "pathlib", "urllib.parse", "ipaddress",
}

#: A module of function OPs as users write them (bench/workloads.py): it imports the DSL.
OPS_MODULE = '''
from typing import List

from hpcflow import InputParameter, Inputs, Step, Steps, Workflow, argo_range
from hpcflow.python import OP, PythonOPTemplate, Slices


@OP.function
def inc(x: int, step: int = 1) -> {"y": int}:
    return {"y": x + step}
'''

#: Runs the unit as ``python -m hpcflow.runtime`` does, then lists the modules it imported.
#: It first forgets those the interpreter's start-up imported: an editable install's import
#: hook (``pip install -e``, as in this repository's venv) imports pathlib in every process,
#: a regular install's interpreter does not; the job's own imports must still show.
PROBE = ("import sys; [sys.modules.pop(name, None) for name in sys.argv[1].split(',')]; "
         "from hpcflow.runtime.group import main; rc = main(sys.argv[2:]); "
         "print(' '.join(sorted(sys.modules))); sys.exit(rc)")
FORGET = ",".join(sorted(NOT_ON_THE_JOB_PATH))


def _ops_module(tmp_path, monkeypatch, name: str, text: str):  # type: ignore[no-untyped-def]
    """A user's module of OPs in ``tmp_path/ops``, imported (as the submitting script does):
    the module and its directory (which jobs get on their path)."""
    ops_dir = tmp_path / "ops"
    ops_dir.mkdir()
    (ops_dir / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(ops_dir))
    return importlib.import_module(name), ops_dir


def _probe(unit, ops_dir) -> tuple[set[str], dict]:  # type: ignore[no-untyped-def]
    """Run ``unit`` under :data:`PROBE` with a job's environment: the modules it imported,
    and its outputs (it must succeed)."""
    env = dict(runtime_env(ops_dir), USER="hpcflow-test")  # as a job's environment has it
    proc = subprocess.run([sys.executable, "-c", PROBE, FORGET, str(unit)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, (unit / "log.txt").read_text() + proc.stderr
    outputs = rec.read_outputs(unit, json.loads((unit / rec.EXIT_FILE).read_text()))
    return set(proc.stdout.split()), outputs


def test_a_function_op_unit_runs_without_the_modules_taken_off_the_job_path(tmp_path, monkeypatch):
    module, ops_dir = _ops_module(tmp_path, monkeypatch, "lean_ops", textwrap.dedent(OPS_MODULE))
    unit = make_unit(tmp_path, PythonOPTemplate(module.inc), parameters={"x": 41}, slice_index=0)
    assert json.loads((unit / "task.json").read_text())["op"] == {"module": "lean_ops", "qualname": "inc"}

    imported, outputs = _probe(unit, ops_dir)

    assert outputs["parameters"] == {"y": 42}
    assert {"lean_ops", "hpcflow.spec.model", "hpcflow.runtime.execute"} <= imported  # it ran
    assert sorted(NOT_ON_THE_JOB_PATH & imported) == []


#: W1's reduce: chained behind its fan-out, it reads the slices' exit records when it starts.
REDUCE_OPS = OPS_MODULE + '''

@OP.function
def total(ys: List[int]) -> {"total": int}:
    return {"total": sum(ys)}
'''


def test_a_chained_reduce_reads_its_producers_without_the_modules_taken_off(tmp_path, monkeypatch):
    module, ops_dir = _ops_module(tmp_path, monkeypatch, "lean_reduce_ops", textwrap.dedent(REDUCE_OPS))
    producers = []
    for i, y in enumerate((3, 4)):
        producer = tmp_path / f"fan({i})" / "attempt-1"
        rec.write_json_atomic(producer / rec.EXIT_FILE, {
            "status": "succeeded", "outputs": {"parameters": {"y": y}, "artifacts": {}, "hashes": {}}})
        producers.append({"dir": str(producer)})
    unit = make_unit(tmp_path, PythonOPTemplate(module.total), step="total")
    task = json.loads((unit / rec.TASK_FILE).read_text())
    task["deferred"] = {"parameters": {"ys": {"step": "fan", "output": "y", "stack": True,
                                              "units": producers}}}
    (unit / rec.TASK_FILE).write_text(json.dumps(task))

    imported, outputs = _probe(unit, ops_dir)

    assert outputs["parameters"] == {"total": 7}
    assert "hpcflow.runtime.deferred" in imported  # it read the producers
    assert sorted(NOT_ON_THE_JOB_PATH & imported) == []


@pytest.mark.parametrize("heavy", ["tempfile", "pathlib"])
def test_the_probe_sees_a_heavy_import(tmp_path, monkeypatch, heavy):
    """The check above can fail: an OP module that imports tempfile shows up, and so does
    pathlib though the interpreter's start-up may have imported it already."""
    module, ops_dir = _ops_module(tmp_path, monkeypatch, "heavy_ops", f"import {heavy}\n" + textwrap.dedent(OPS_MODULE))
    unit = make_unit(tmp_path, PythonOPTemplate(module.inc), parameters={"x": 1})
    proc = subprocess.run([sys.executable, "-c", PROBE, FORGET, str(unit)], env=runtime_env(ops_dir),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, (Path(unit) / "log.txt").read_text()
    assert heavy in proc.stdout.split()


#: An OP whose module registers an atexit handler: it records whether the interpreter's
#: teardown still ran it, and whether the runtime had frozen the collector by then.
ATEXIT_OPS = '''
import atexit
import gc
import os

from hpcflow.python import OP

_MARK = os.environ["ATEXIT_MARK"]


@atexit.register
def _at_exit():
    with open(_MARK, "w") as fh:
        fh.write(str(gc.get_freeze_count()))


@OP.function
def inc(x: int) -> {"y": int}:
    return {"y": x + 1}
'''


def test_the_job_entry_point_freezes_the_collector_and_still_runs_atexit(tmp_path, monkeypatch):
    """``python -m hpcflow.runtime`` freezes what the job made before the interpreter's
    teardown (whose collections would walk all of it again), and teardown still runs the
    OP's atexit handlers."""
    ops_dir = tmp_path / "ops"
    ops_dir.mkdir()
    (ops_dir / "atexit_ops.py").write_text(ATEXIT_OPS)
    monkeypatch.syspath_prepend(str(ops_dir))
    monkeypatch.setenv("ATEXIT_MARK", str(tmp_path / "mark"))
    module = importlib.import_module("atexit_ops")
    unit = make_unit(tmp_path, PythonOPTemplate(module.inc), parameters={"x": 1})
    env = dict(runtime_env(ops_dir), ATEXIT_MARK=str(tmp_path / "mark"))
    proc = subprocess.run([sys.executable, "-m", "hpcflow.runtime", str(unit)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)

    assert proc.returncode == 0, (unit / "log.txt").read_text() + proc.stderr
    assert rec.read_outputs(unit, json.loads((unit / rec.EXIT_FILE).read_text()))["parameters"] == {"y": 2}
    frozen_at_exit = int((tmp_path / "mark").read_text())  # the handler ran
    assert frozen_at_exit > 1000  # the modules, the unit's objects: all frozen
