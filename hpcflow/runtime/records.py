"""The files a unit directory holds, and atomic writes of them (shared by engine and runtime)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hpcflow.errors import CorruptRecord

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


#: fsync before rename costs milliseconds per record; a record lost to an OS crash only
#: makes the engine treat the attempt as lost and run it again, so it is opt-in.
FSYNC = os.environ.get("HPCFLOW_FSYNC", "") not in ("", "0")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary sibling, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            if FSYNC:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
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
