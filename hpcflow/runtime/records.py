"""The files a unit directory holds, and atomic writes of them (shared by engine and runtime)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
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


def read_json(path: Path) -> Any | None:
    """Read a JSON record, or None if it does not exist (yet)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def read_exit(unit_dir: Path) -> dict[str, Any] | None:
    return read_json(Path(unit_dir) / EXIT_FILE)
