"""Records that cannot be read, and attempt directories that are gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.errors import CorruptRecord
from hpcflow.python import PythonOPTemplate
from hpcflow.runtime import records as rec
from hpcflow.runtime.execute import run_unit
from tests.helpers import make_unit, read_exit, run_units
from tests.integration import wf_ops as ops


def test_truncated_task_file_fails_the_unit_naming_the_file(tmp_path: Path) -> None:
    unit = make_unit(tmp_path, PythonOPTemplate(ops.add), parameters={"a": 1})
    task = unit / rec.TASK_FILE
    task.write_text(task.read_text()[:40])
    assert run_units(unit).returncode == 1
    record = read_exit(unit)
    assert record["status"] == "failed" and record["kind"] == "fatal"
    assert f"{task} is corrupt" in record["message"]


def test_read_json_names_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / rec.EXIT_FILE
    path.write_text('{"status": "succ')
    with pytest.raises(CorruptRecord, match=str(path)):
        rec.read_json(path)
    assert rec.read_json(tmp_path / "absent.json") is None


def test_a_deleted_attempt_directory_is_reported_not_raised(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    gone = tmp_path / "attempt-1"
    assert run_unit(gone) is False
    assert f"the attempt directory {gone} does not exist" in capsys.readouterr().err
