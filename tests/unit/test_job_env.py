"""The launch record: what a job needs to import the user's modules, captured at submit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hpcflow import codec
from hpcflow.engine.job_env import LaunchRecord, capture_launch, job_environment, modules_in_spec


class Marker:
    """A parameter class: jsonpickle names it by module path."""


def test_modules_in_spec_finds_op_modules_and_parameter_classes():
    spec = {"templates": {"t": {"op": {"module": "json", "qualname": "X"}}},
            "parameters": {"p": {"v": codec.encode(Marker())}}}
    assert modules_in_spec(spec) == ["json", Marker.__module__]
    assert modules_in_spec({"a": [{"py/object": "no.such.module.Thing"}]}) == []


def test_capture_records_import_roots_upload_packages_and_interpreter(tmp_path: Path, monkeypatch):
    pkg = tmp_path / "shipped" / "mypkg"
    pkg.mkdir(parents=True)
    from hpcflow.settings import Settings

    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "extra"))
    record = capture_launch([Marker.__module__], [str(pkg)], Settings.resolve().python_path)
    here = str(Path(__file__).resolve().parents[Marker.__module__.count(".")])
    assert here in record.python_path                      # where the OP module was imported from
    assert str((tmp_path / "shipped").resolve()) in record.python_path   # upload_packages parent
    assert str((tmp_path / "extra").resolve()) in record.python_path     # the submitter's PYTHONPATH
    assert not any(Path(p).name in ("site-packages", "dist-packages") for p in record.python_path)
    assert record.interpreter == sys.executable
    assert LaunchRecord.from_json(record.to_json()) == record


def test_job_environment_uses_the_record_not_this_process(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/from/the/ticking/process")
    env = job_environment(LaunchRecord(("/project",), "/usr/bin/python3"), "alice")
    parts = env["PYTHONPATH"].split(os.pathsep)
    assert parts[1:] == ["/project"]
    assert (Path(parts[0]) / "hpcflow").is_dir()
    assert "/from/the/ticking/process" not in parts
    assert env["USER"] == "alice"
