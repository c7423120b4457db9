"""A job's Python imports only what running its unit needs.

Every array task is a new interpreter, and on a cluster whose tasks share cores each
10 ms of import CPU per task costs seconds per 200-task array (bench/README.md). These
modules were taken off the job path; a change that imports one again at module level
(``import dataclasses`` in the spec model, ``tempfile`` in the records, ``inspect`` for
function OPs, the expression parser through the DSL) fails here.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

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
PROBE = ("import sys; from hpcflow.runtime.group import main; rc = main(sys.argv[1:]); "
         "print(' '.join(sorted(sys.modules))); sys.exit(rc)")


def test_a_function_op_unit_runs_without_the_modules_taken_off_the_job_path(tmp_path, monkeypatch):
    ops_dir = tmp_path / "ops"
    ops_dir.mkdir()
    (ops_dir / "lean_ops.py").write_text(textwrap.dedent(OPS_MODULE))
    monkeypatch.syspath_prepend(str(ops_dir))
    module = importlib.import_module("lean_ops")
    unit = make_unit(tmp_path, PythonOPTemplate(module.inc), parameters={"x": 41}, slice_index=0)
    assert json.loads((unit / "task.json").read_text())["op"] == {"module": "lean_ops", "qualname": "inc"}

    proc = subprocess.run([sys.executable, "-c", PROBE, str(unit)], env=runtime_env(ops_dir),
                          capture_output=True, text=True, timeout=60, check=False)

    assert proc.returncode == 0, (unit / "log.txt").read_text() + proc.stderr
    outputs = rec.read_outputs(unit, json.loads((unit / rec.EXIT_FILE).read_text()))
    assert outputs["parameters"] == {"y": 42}
    imported = set(proc.stdout.split())
    assert {"lean_ops", "hpcflow.spec.model", "hpcflow.runtime.execute"} <= imported  # it ran
    assert sorted(NOT_ON_THE_JOB_PATH & imported) == []


def test_the_probe_sees_a_heavy_import(tmp_path, monkeypatch):
    """The check above can fail: an OP module that imports tempfile shows up."""
    ops_dir = tmp_path / "ops"
    ops_dir.mkdir()
    (ops_dir / "heavy_ops.py").write_text("import tempfile\n" + textwrap.dedent(OPS_MODULE))
    monkeypatch.syspath_prepend(str(ops_dir))
    module = importlib.import_module("heavy_ops")
    unit = make_unit(tmp_path, PythonOPTemplate(module.inc), parameters={"x": 1})
    proc = subprocess.run([sys.executable, "-c", PROBE, str(unit)], env=runtime_env(ops_dir),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, (Path(unit) / "log.txt").read_text()
    assert "tempfile" in proc.stdout.split()
