"""One task list per job: the task records of all its units in one file, found in O(1).

A 100,000-slice array used to write a ``task.json`` per unit and an argv file per array
task: two inodes per slice before anything ran. Now the engine writes one file per job
and every array task runs the same argv plus its index; the runtime seeks to its entry.

Layout (UTF-8, written to a temporary sibling and renamed, so a job never reads half)::

    hpcflow-tasks 1\\n
    {"count": N, "templates": [...], "log": "/.../units.log"}\\n     header (JSON line)
    N lines of a fixed-width decimal byte offset (OFFSET_WIDTH digits + \\n)
    N JSON lines, one per array task: [{"dir": UNIT_DIR, "task": TASK}, ...]

``TASK`` is a task record (:class:`~hpcflow.spec.model.TaskRecord` JSON) whose
``template`` is an index into the header's ``templates``: the units of one step share
their template, which is most of a record's size.

Paths are handled with ``os.path`` (every array task reads its entry here; ``pathlib``
would cost it ~3.5 ms of CPU); callers may pass ``str`` or ``Path``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcflow.runtime.records import StrPath

MAGIC = b"hpcflow-tasks 1\n"
OFFSET_WIDTH = 15

#: The file name of a job's task list (in ``jobs/<tag>/``).
TASK_LIST = "tasks.jsonl"
#: The merged log of the job's units that succeeded (a failed unit keeps its own log).
UNITS_LOG = "units.log"


def write_task_list(path: StrPath, tasks: Iterable[Iterable[tuple[str, dict[str, Any]]]],
                    *, log: str | None = None) -> None:
    """Write the task list for ``tasks`` (per array task: its units' ``(dir, task record)``;
    an iterable, so the records can be made one at a time).

    The task lines go to a scratch file first and are copied in after the header and the
    offsets, which need them all: 100,000 lines (~40 MB) never sit in memory together."""
    parent, name = os.path.split(os.fspath(path))
    os.makedirs(parent or os.curdir, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.{os.getpid()}.tmp")
    scratch = tmp + ".lines"
    templates = _Templates()
    lengths = []
    try:
        with open(scratch, "w+b") as body:
            for line in _task_lines(tasks, templates):
                body.write(line)
                lengths.append(len(line))
            body.seek(0)
            with open(tmp, "wb") as fh:
                fh.write(_head(templates.templates, lengths, log))
                while chunk := body.read(1 << 20):
                    fh.write(chunk)
    finally:
        try:
            os.unlink(scratch)
        except FileNotFoundError:
            pass
    os.replace(tmp, path)


def render_task_list(tasks: Iterable[Iterable[tuple[str, dict[str, Any]]]],
                     *, log: str | None = None) -> bytes:
    """The bytes of a task list (see the module's docstring)."""
    templates = _Templates()
    lines = list(_task_lines(tasks, templates))
    return b"".join([_head(templates.templates, [len(line) for line in lines], log), *lines])


class _Templates:
    """The distinct templates of a task list, each given its index once."""

    def __init__(self) -> None:
        self.templates: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._by_id: dict[int, tuple[int, Any]] = {}  # units of a fan-out share one template object

    def ref(self, template: dict[str, Any]) -> int:
        known = self._by_id.get(id(template))
        if known is not None and known[1] is template:
            return int(known[0])
        key = json.dumps(template, sort_keys=True, ensure_ascii=False)
        if key not in self._index:
            self._index[key] = len(self.templates)
            self.templates.append(template)
        ref = self._index[key]
        self._by_id[id(template)] = (ref, template)  # kept alive: its id stays its own
        return ref


def _task_lines(tasks: Iterable[Iterable[tuple[str, dict[str, Any]]]], templates: _Templates) -> Iterator[bytes]:
    """One JSON line per array task, its units' templates replaced by their index."""
    for units in tasks:
        entry = [{"dir": unit_dir, "task": {**record, "template": templates.ref(record["template"])}}
                 for unit_dir, record in units]
        yield json.dumps(entry, ensure_ascii=False).encode() + b"\n"


def _head(templates: list[dict[str, Any]], lengths: list[int], log: str | None) -> bytes:
    """The magic line, the header and the fixed-width offsets of lines of ``lengths``."""
    header = json.dumps({"count": len(lengths), "templates": templates, "log": log},
                        ensure_ascii=False).encode() + b"\n"
    start = len(MAGIC) + len(header) + len(lengths) * (OFFSET_WIDTH + 1)
    offsets = bytearray()
    for length in lengths:
        offsets += b"%0*d\n" % (OFFSET_WIDTH, start)
        start += length
    return MAGIC + header + bytes(offsets)


class TaskListError(ValueError):
    """The task list is missing, damaged, or has no such index."""


def read_header(fh: Any, path: StrPath) -> dict[str, Any]:
    if fh.readline() != MAGIC:
        raise TaskListError(f"{path} is not an hpcflow task list")
    try:
        header = json.loads(fh.readline())
    except ValueError as exc:
        raise TaskListError(f"{path}: damaged header ({exc})") from exc
    if not isinstance(header, dict):
        raise TaskListError(f"{path}: damaged header")
    return header


def read_task(path: StrPath, number: int) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The header and the units of array task ``number``, with their templates filled in."""
    with open(path, "rb") as fh:
        header = read_header(fh, path)
        count = int(header.get("count", 0))
        if not 0 <= number < count:
            raise TaskListError(f"{path} has {count} task(s), not task {number}")
        fh.seek(fh.tell() + number * (OFFSET_WIDTH + 1))
        offset = int(fh.read(OFFSET_WIDTH))
        fh.seek(offset)
        try:
            entry = json.loads(fh.readline())
        except ValueError as exc:
            raise TaskListError(f"{path}: task {number} is damaged ({exc})") from exc
    return header, [_filled(header, unit) for unit in entry]


def read_all(path: StrPath) -> tuple[dict[str, Any], list[list[tuple[str, dict[str, Any]]]]]:
    """The header and every array task's units (the Kubernetes and SSH stagers)."""
    with open(path, "rb") as fh:
        header = read_header(fh, path)
        count = int(header.get("count", 0))
        fh.seek(fh.tell() + count * (OFFSET_WIDTH + 1))
        return header, [[_filled(header, unit) for unit in json.loads(fh.readline())]
                        for _ in range(count)]


def _filled(header: dict[str, Any], unit: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    record = dict(unit["task"])  # raw JSON: the runtime parses it into a TaskRecord
    record["template"] = header["templates"][record["template"]]
    return unit["dir"], record
