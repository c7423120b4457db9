"""Records that cannot be read, space held for the exit record, and full filesystems named."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hpcflow.errors import CorruptRecord
from hpcflow.python import PythonOPTemplate
from hpcflow.runtime import records as rec
from hpcflow.runtime.execute import run_unit
from hpcflow.runtime.fserrors import describe, mount_point
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


def test_exit_record_space_is_held_from_the_start(tmp_path: Path) -> None:
    writer = rec.ExitRecordWriter(tmp_path)
    held = [p for p in tmp_path.iterdir() if p.name.startswith(f".{rec.EXIT_FILE}.")]
    assert len(held) == 1 and held[0].stat().st_size == rec.EXIT_RESERVE
    writer.write({"status": "failed", "message": "ünïcode", "traceback": "x" * 10})
    assert json.loads((tmp_path / rec.EXIT_FILE).read_text(encoding="utf-8"))["message"] == "ünïcode"
    assert sorted(p.name for p in tmp_path.iterdir()) == [rec.EXIT_FILE]


def test_an_oversized_traceback_is_trimmed_to_its_end(tmp_path: Path) -> None:
    writer = rec.ExitRecordWriter(tmp_path)
    writer.write({"status": "failed", "traceback": "start" + "y" * (2 * rec.EXIT_RESERVE) + "the end"})
    record = json.loads((tmp_path / rec.EXIT_FILE).read_text())
    assert record["traceback"].endswith("the end") and len(record["traceback"]) < rec.EXIT_RESERVE


def test_a_deleted_attempt_directory_is_reported_not_raised(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    gone = tmp_path / "attempt-1"
    assert run_unit(gone) is False
    assert f"the attempt directory {gone} does not exist" in capsys.readouterr().err


def test_a_full_filesystem_is_named_by_its_mount_point(tmp_path: Path) -> None:
    mount = mount_point(tmp_path)
    assert tmp_path.is_relative_to(mount)
    assert mount == Path("/") or mount.stat().st_dev != mount.parent.stat().st_dev
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    text = describe(full, tmp_path / "not-yet" / "file")
    assert text.startswith("OSError: No space left on device")
    assert f"the filesystem at {mount}" in text and "free of" in text
    try:
        try:
            raise full
        except OSError as exc:
            raise RuntimeError("could not save the model") from exc
    except RuntimeError as wrapped:
        text = describe(wrapped, tmp_path)
    assert text.startswith("RuntimeError: could not save the model: No space left on device")
    assert describe(ValueError("bad"), tmp_path) == "ValueError: bad"
    quota = describe(OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), tmp_path)
    assert "quota" in quota and str(mount) in quota


def _append_many(path: str, worker: int, count: int, out: Any) -> None:
    from hpcflow.runtime.records import append_locked

    for i in range(count):
        data = f"worker {worker} entry {i} ".encode() * (1 + i % 7)
        out.put((append_locked(Path(path), f"==> {worker}/{i} <==\n".encode(), data), data))


def test_tasks_appending_to_the_merged_log_at_once_each_get_their_own_offset(tmp_path):
    """Array tasks append their logs to one file at the same time: each returned offset
    must point at that task's own bytes (the lock makes seek-to-end and write one step)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    merged = tmp_path / "units.log"
    workers = [ctx.Process(target=_append_many, args=(str(merged), w, 40, out)) for w in range(6)]
    for p in workers:
        p.start()
    entries = [out.get(timeout=60) for _ in range(6 * 40)]
    for p in workers:
        p.join(timeout=60)
    text = merged.read_bytes()
    for offset, data in entries:
        assert text[offset:offset + len(data)] == data
    assert sorted(offset for offset, _ in entries) == sorted({offset for offset, _ in entries})


@pytest.mark.parametrize("as_path", [str, Path], ids=["str", "Path"])
def test_records_take_str_and_path_alike(tmp_path: Path, as_path: Any) -> None:
    """The runtime passes ``str`` (os.path, no pathlib in a task); the engine passes Path."""
    unit = as_path(tmp_path / "new" / "attempt-1")
    rec.write_json_atomic(os.path.join(unit, rec.OUTPUTS_FILE), {"y": 1})  # makes the directories
    assert rec.read_json(os.path.join(unit, rec.OUTPUTS_FILE)) == {"y": 1}
    assert rec.read_outputs(unit, {}) == {"y": 1}
    assert not rec.has_exit(unit) and rec.read_exit(unit) is None
    writer = rec.ExitRecordWriter(unit)
    (tmp_path / "new" / "attempt-1" / rec.LOG_FILE).write_text("hello\n")
    merged = as_path(tmp_path / "units.log")
    record = {"status": "succeeded", **rec.tidy_succeeded(unit, merged, "s(0)")}
    writer.write(record)
    assert rec.has_exit(unit) and rec.read_exit(unit) == record
    assert record["log"]["file"] == str(tmp_path / "units.log")
    rec.drop_unit_log(unit, record)
    log = rec.read_unit_log(unit)
    assert log is not None and log == (tmp_path / "units.log", "hello\n")  # engine-side: a Path


def test_a_record_written_by_bare_file_name_lands_in_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rec.write_json_atomic("record.json", [1, "ü"])
    assert json.loads((tmp_path / "record.json").read_text(encoding="utf-8")) == [1, "ü"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
