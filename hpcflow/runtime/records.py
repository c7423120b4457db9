"""The files a unit directory holds, and atomic writes of them (shared by engine and runtime)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hpcflow.errors import CorruptRecord
from hpcflow.runtime.tmpfiles import mkstemp
from hpcflow.settings import node_options

TASK_FILE = "task.json"
OUTPUTS_FILE = "outputs.json"
EXIT_FILE = "exit.json"
LOG_FILE = "log.txt"
WORK_DIR = "work"

#: Error kinds an exit record may carry.
KIND_TRANSIENT = "transient"
KIND_FATAL = "fatal"
KIND_TIMEOUT = "timeout"
KIND_ERROR = "error"
KIND_LOAD = "load"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary sibling, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            if node_options().fsync:  # HPCFLOW_FSYNC on the node (hpcflow.settings)
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


#: Disk space held for a unit's exit record from the moment it starts.
EXIT_RESERVE = 64 * 1024


class ExitRecordWriter:
    """Writes the exit record into space taken when the unit started.

    An OP that fills its filesystem must still leave an exit record saying so: without one
    the engine only learns that the job died. The temporary file the record is renamed from
    is created, and filled to ``EXIT_RESERVE`` bytes, before the OP runs; the record
    overwrites those bytes (no new space needed), is truncated to its length, and is renamed
    into place as ``write_json_atomic`` would.
    """

    def __init__(self, unit_dir: Path) -> None:
        self.path = Path(unit_dir) / EXIT_FILE
        self._fd: int | None = None
        self._tmp: str | None = None
        try:
            self._fd, self._tmp = mkstemp(prefix=f".{EXIT_FILE}.", dir=unit_dir)
            os.write(self._fd, b" " * EXIT_RESERVE)
        except OSError:  # already full: write() falls back to a plain atomic write
            pass

    def write(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, ensure_ascii=False).encode()
        if len(data) > EXIT_RESERVE and record.get("traceback"):
            tail = record["traceback"][-(EXIT_RESERVE // 2):]
            data = json.dumps({**record, "traceback": "...\n" + tail}, ensure_ascii=False).encode()
        if self._fd is None or self._tmp is None:
            write_json_atomic(self.path, record)
            return
        fd, tmp = self._fd, self._tmp
        self._fd = self._tmp = None
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.ftruncate(fd, len(data))
            if node_options().fsync:
                os.fsync(fd)
            os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.close(fd)
            except OSError:
                pass
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def read_json(path: Path) -> Any | None:
    """Read a JSON record, or None if it does not exist (yet).

    Raises:
        CorruptRecord: the file is not valid JSON (truncated or overwritten outside hpcflow:
            hpcflow's own writes are atomic).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CorruptRecord(f"{path} is corrupt (not valid JSON: {exc}); it was truncated or "
                            "overwritten outside hpcflow") from exc


def read_exit(unit_dir: Path) -> dict[str, Any] | None:
    return read_json(Path(unit_dir) / EXIT_FILE)
