"""The files a unit directory holds, and atomic writes of them (shared by engine and runtime).

Paths are ``str`` or ``os.PathLike`` and handled with ``os.path``: every array task imports
this module, and ``pathlib`` would cost it ~3.5 ms of CPU (engine code passes ``Path``
objects, which work the same)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from hpcflow.errors import CorruptRecord
from hpcflow.node_settings import node_options
from hpcflow.runtime.tmpfiles import mkstemp

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Union

    from typing_extensions import TypeAlias

    #: A file or directory as callers hold it: ``str`` in the runtime, ``Path`` in the engine.
    StrPath: TypeAlias = Union[str, os.PathLike[str]]

TASK_FILE = "task.json"
OUTPUTS_FILE = "outputs.json"
EXIT_FILE = "exit.json"
LOG_FILE = "log.txt"
WORK_DIR = "work"

#: Outputs up to this size (JSON) go into the exit record itself; larger ones into
#: ``outputs.json`` (the exit record must fit the space held for it, ``EXIT_RESERVE``).
INLINE_OUTPUTS_MAX = 32 * 1024
#: Script files a script step writes into its unit directory.
SCRIPT_FILES = ("script.sh", "script.py")

#: Error kinds an exit record may carry.
KIND_TRANSIENT = "transient"
KIND_FATAL = "fatal"
KIND_TIMEOUT = "timeout"
KIND_ERROR = "error"
KIND_LOAD = "load"


def write_json_atomic(path: StrPath, data: Any) -> None:
    """Write JSON to a temporary sibling, then rename: readers never see half a file."""
    parent, name = os.path.split(os.fspath(path))
    parent = parent or os.curdir
    os.makedirs(parent, exist_ok=True)
    fd, tmp = mkstemp(prefix=f".{name}.", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            if node_options().fsync:  # HPCFLOW_FSYNC on the node (hpcflow.node_settings)
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

    def __init__(self, unit_dir: StrPath) -> None:
        self.path = os.path.join(unit_dir, EXIT_FILE)
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


def read_json(path: StrPath) -> Any | None:
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


def read_exit(unit_dir: StrPath) -> dict[str, Any] | None:
    return read_json(os.path.join(unit_dir, EXIT_FILE))


def has_exit(unit_dir: StrPath) -> bool:
    """Whether the unit has written its exit record (one stat; it is written last)."""
    return os.path.exists(os.path.join(unit_dir, EXIT_FILE))


def read_outputs(unit_dir: StrPath, record: dict[str, Any]) -> dict[str, Any]:
    """A succeeded unit's outputs: in its exit record, else in ``outputs.json`` (large
    outputs, and attempts written before outputs moved into the exit record)."""
    if "outputs" in record:
        return record["outputs"] or {}
    return read_json(os.path.join(unit_dir, OUTPUTS_FILE)) or {}


def tidy_succeeded(unit_dir: StrPath, merged_log: StrPath | None, label: str) -> dict[str, Any]:
    """Drop what a succeeded unit no longer needs (its script file, an empty ``work``) and,
    with ``merged_log``, append its log there; the returned fields go into the exit record
    (``log``: where the unit's log now is, or None when it was empty). Without
    ``merged_log`` (bare unit directories: older attempts, Kubernetes pods) all stays."""
    if merged_log is None:
        return {}
    for name in SCRIPT_FILES:
        try:
            os.unlink(os.path.join(unit_dir, name))
        except OSError:
            pass
    try:
        os.rmdir(os.path.join(unit_dir, WORK_DIR))  # only when empty: what the OP left there stays
    except OSError:
        pass
    try:
        with open(os.path.join(unit_dir, LOG_FILE), "rb") as fh:
            data = fh.read()
    except OSError:
        return {}
    if not data:
        return {"log": None}
    try:
        offset = append_locked(merged_log, f"==> {label} {os.fspath(unit_dir)} <==\n".encode(), data)
    except OSError:  # the merged log cannot take it: the unit keeps its own
        return {}
    return {"log": {"file": os.fspath(merged_log), "offset": offset, "length": len(data)}}


def append_locked(path: StrPath, head: bytes, data: bytes) -> int:
    """Append ``head + data`` under a POSIX lock (other tasks of the array append too);
    returns the offset at which ``data`` starts.

    ``os.lockf`` takes the same fcntl record lock as ``fcntl.lockf`` without loading the
    ``fcntl`` extension in every task. Taken at offset 0 (the descriptor is new) with length
    0 it covers the whole file; closing the descriptor releases it.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.lockf(fd, os.F_LOCK, 0)
        start = os.lseek(fd, 0, os.SEEK_END) + len(head)
        view = memoryview(head + data + (b"" if data.endswith(b"\n") else b"\n"))
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # releases the lock
    return start


def drop_unit_log(unit_dir: StrPath, record: dict[str, Any]) -> None:
    """Remove a succeeded unit's own log once its exit record says where the text went."""
    if "log" in record:
        try:
            os.unlink(os.path.join(unit_dir, LOG_FILE))
        except OSError:
            pass


def read_unit_log(unit_dir: StrPath, limit: int | None = None) -> tuple[Path, str] | None:
    """The log of a unit: its own ``log.txt``, else its part of the job's merged log (the
    exit record says where); None when it has none. ``limit`` keeps the last bytes."""
    from pathlib import Path  # engine-side (the CLI's and the dashboard's logs)

    own = Path(unit_dir) / LOG_FILE
    if own.exists():
        data = own.read_bytes()
        return own, (data[-limit:] if limit else data).decode(errors="replace")
    try:
        record = read_exit(unit_dir)
    except CorruptRecord:
        return None
    where = (record or {}).get("log")
    if not isinstance(where, dict):
        return None
    path, offset, length = Path(where["file"]), int(where["offset"]), int(where["length"])
    if limit and length > limit:
        offset, length = offset + length - limit, limit
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return path, fh.read(length).decode(errors="replace")
    except OSError:
        return None
