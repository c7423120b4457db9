"""Where attempt directories live for the jobs: here, or in a cluster's work root over SSH.

The engine always works on local attempt directories (it writes ``task.json`` there and
reads ``exit.json`` from there). With a :class:`LocalWorkArea` the jobs see the same
directories. With a :class:`RemoteWorkArea` (``[ssh] engine = "local"``) the local work root
is a mirror of the cluster's: before a job is submitted its attempt directories are staged
to the same relative place under the remote work root (with what they need: shipped OPs,
uploaded input artifacts, the OP modules and hpcflow itself), and once the queue no longer
lists the job, the directories that hold an exit record are fetched back. Paths inside the
records are translated between the two roots, so the store only ever holds local paths.
Each of ``stage`` and ``fetch`` is one remote command per tick, whatever the number of units.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from hpcflow.runtime import records as rec
from hpcflow.runtime import tasklist
from hpcflow.scheduler.base import JobRequest
from hpcflow.spec.model import TaskRecord
from hpcflow.transport import files

#: Marks a local directory whose content is already on the remote side.
STAGED_MARK = ".hpcflow-staged"


class WorkArea(Protocol):
    def stage(self, unit_dirs: Sequence[Path], code: Sequence[Path] = ()) -> None:
        """Make the attempt directories (and ``code`` roots) visible to the jobs."""
        ...

    def job_request(self, request: JobRequest, code: Sequence[Path] = ()) -> JobRequest:
        """The request as the scheduler's side sees it (paths, its ``PYTHONPATH``)."""
        ...

    def fetch(self, unit_dirs: Sequence[Path]) -> None:
        """Bring finished attempt directories back where the engine reads them."""
        ...

    def reads_in_place(self, unit_dir: Path) -> bool:
        """Whether the job writes ``unit_dir`` on this machine's filesystem, so that its
        exit record can be looked for without a transfer (or a scheduler query)."""
        ...


class LocalWorkArea:
    """The jobs share this machine's filesystem: nothing to move."""

    def stage(self, unit_dirs: Sequence[Path], code: Sequence[Path] = ()) -> None:
        return None

    def job_request(self, request: JobRequest, code: Sequence[Path] = ()) -> JobRequest:
        return request

    def fetch(self, unit_dirs: Sequence[Path]) -> None:
        return None

    def reads_in_place(self, unit_dir: Path) -> bool:
        return True


class RemoteWorkArea:
    """A local mirror of a remote work root, kept in step through one SSH transport."""

    def __init__(self, transport: Any, local_root: Path, remote_root: str, timeout_s: float) -> None:
        self.transport = transport
        self.local_root = Path(local_root)
        self.remote_root = remote_root.rstrip("/") or "/"
        self.timeout_s = timeout_s
        self._lib: str | None = None
        #: Marks a local upload directory already staged here (routes have one each).
        self.staged_mark = STAGED_MARK

    # --- paths ---------------------------------------------------------------------------

    def to_remote(self, value: Any) -> Any:
        return _map_strings(value, str(self.local_root), self.remote_root)

    def to_local(self, value: Any) -> Any:
        return _map_strings(value, self.remote_root, str(self.local_root))

    # --- staging -------------------------------------------------------------------------

    def stage(self, unit_dirs: Sequence[Path], code: Sequence[Path] = ()) -> None:
        """One upload: the jobs' task lists (or, for attempts prepared before task lists,
        each unit's ``task.json``) with paths translated, the OP pickles and uploaded input
        artifacts they refer to, the code roots and hpcflow, if not there yet."""
        out: dict[str, bytes] = {}
        marks: list[Path] = []
        for unit in unit_dirs:
            if Path(unit).is_file():  # a job's task list
                header, entries = tasklist.read_all(Path(unit))
                for units in entries:
                    for _, data in units:
                        marks += self._add_needs(out, data)
                remote = [[(self.to_remote(d), self.to_remote(t)) for d, t in units] for units in entries]
                out[self.to_remote(str(unit))] = tasklist.render_task_list(
                    remote, log=self.to_remote(header.get("log")))
                continue
            old_task = rec.read_json(Path(unit) / rec.TASK_FILE)
            if old_task is None:
                continue
            marks += self._add_needs(out, old_task)
            out[self.to_remote(str(Path(unit) / rec.TASK_FILE))] = json.dumps(
                self.to_remote(old_task), ensure_ascii=False).encode()
        for root in code:
            files.add_tree(out, Path(root), self.code_dir(Path(root)))
        lib = self._library(out)
        files.write_files(self.transport, out, self.remote_root, self.timeout_s)
        self._lib = lib
        for mark in marks:
            (mark / self.staged_mark).touch()

    def _add_needs(self, out: dict[str, bytes], data: dict[str, Any]) -> list[Path]:
        """The shipped OP pickle and uploaded inputs a task record names."""
        task = TaskRecord.from_json(data)
        pickle_file = (task.op or {}).get("pickle_file")
        if pickle_file:
            self._add_file(out, Path(pickle_file))
        marks: list[Path] = []
        for leaf in _leaves(dict(task.artifacts)):
            marks += self._add_input(out, Path(leaf))
        return marks

    def code_dir(self, root: Path) -> str:
        """Where a shipped code root (a package or module) goes on the remote side."""
        digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
        return f"{self.remote_root}/.hpcflow-code/{digest}/{root.name}"

    def _add_file(self, out: dict[str, bytes], path: Path) -> None:
        if path.is_file():
            out[self.to_remote(str(path))] = path.read_bytes()

    def _add_input(self, out: dict[str, bytes], path: Path) -> list[Path]:
        """An input artifact made on this machine (``upload_artifact``) goes up once; one
        made by an earlier remote step is already there."""
        try:
            rel = path.resolve().relative_to(self.local_root.resolve())
        except ValueError:
            return []  # outside the mirror: a path the cluster has by itself
        if rel.parts[:1] != ("uploads",) or len(rel.parts) < 2:
            return []
        upload = self.local_root / rel.parts[0] / rel.parts[1]
        if (upload / self.staged_mark).exists():
            return []
        files.add_tree(out, upload, self.to_remote(str(upload)))
        for other in upload.glob(f"{STAGED_MARK}*"):  # marks are this machine's business
            out.pop(self.to_remote(str(other)), None)
        return [upload]

    def _library(self, out: dict[str, bytes]) -> str:
        """hpcflow and its pure-Python helpers, shipped once per version."""
        if self._lib is not None:
            return self._lib
        from hpcflow.engine.containerize import _SHIPPED, _package_dir

        digest = hashlib.sha256()
        sources = {name: _package_dir(name) for name in _SHIPPED}
        for _name, src in sorted(sources.items()):
            for path in sorted(src.rglob("*.py")):
                digest.update(str(path.relative_to(src.parent)).encode())
                digest.update(path.read_bytes())
        lib = f"{self.remote_root}/.hpcflow-lib/{digest.hexdigest()[:16]}"
        probe = self.transport.run(["test", "-f", f"{lib}/.complete"], timeout=self.timeout_s)
        if not probe.ok:
            for name, src in sources.items():
                files.add_tree(out, src, f"{lib}/{name}")
            out[f"{lib}/.complete"] = b""
        return lib

    # --- the job as the cluster sees it ----------------------------------------------------

    def job_request(self, request: JobRequest, code: Sequence[Path] = ()) -> JobRequest:
        """Paths re-rooted; ``PYTHONPATH`` is the shipped hpcflow and code roots only (the
        directories of this machine mean nothing on the cluster)."""
        env = dict(request.env)
        roots = [self._lib or ""] + [self.code_dir(Path(c)).rsplit("/", 1)[0] for c in code]
        env["PYTHONPATH"] = ":".join(dict.fromkeys(p for p in roots if p))
        return replace(request, workdir=Path(self.to_remote(str(request.workdir))),
                       tasks=tuple(tuple(self.to_remote(list(t))) for t in request.tasks),
                       env=env)

    # --- fetching --------------------------------------------------------------------------

    def reads_in_place(self, unit_dir: Path) -> bool:
        return False  # a download per look: only after the queue says the job ended

    def fetch(self, unit_dirs: Sequence[Path]) -> None:
        """One download of every listed attempt directory that has its exit record, and of
        the merged logs (``jobs/<tag>/units.log``) its succeeded units' logs went to."""
        wanted = [self.to_remote(str(d)) for d in unit_dirs if not (Path(d) / rec.EXIT_FILE).exists()]
        found = files.read_finished_trees(self.transport, wanted, rec.EXIT_FILE, self.timeout_s)
        exits = []
        merged: set[str] = set()
        for remote, content in found.items():
            local = Path(self.to_local(remote))
            if local.name == rec.TASK_FILE and local.exists():
                continue  # the engine's own copy, with local paths
            if local.name == rec.EXIT_FILE:  # outputs inside: their paths translated
                record = self.to_local(json.loads(content))
                content = json.dumps(record, ensure_ascii=False).encode()
                exits.append((local, content))  # written last: a reader sees a whole unit
                where = record.get("log") if isinstance(record, dict) else None
                if isinstance(where, dict) and isinstance(where.get("file"), str):
                    merged.add(where["file"])  # a succeeded unit's log: in its job's units.log
                continue
            if local.name == rec.OUTPUTS_FILE:  # large outputs, or an older layout
                content = json.dumps(self.to_local(json.loads(content)), ensure_ascii=False).encode()
            _write(local, content)
        if merged:  # the jobs' merged logs, whole (they only grow), before the records
            logs = files.read_files(self.transport, [self.to_remote(f) for f in sorted(merged)],
                                    self.timeout_s)
            for remote, content in logs.items():
                _write(Path(self.to_local(remote)), content)
        for local, content in exits:
            _write(local, content)


def code_roots(spec: dict[str, Any], launch: Any) -> list[Path]:
    """The packages (or module files) a workflow's OPs are imported from, found in the
    directories of its launch record, and its ``upload_packages``: what must be shipped
    for the jobs to import them."""
    from hpcflow.engine.job_env import modules_in_spec

    search = [Path(p) for p in (launch.python_path if launch is not None else ())]
    roots: list[Path] = []
    for module in modules_in_spec(spec):
        top = module.split(".")[0]
        if top in ("hpcflow", "__main__") or top in sys.stdlib_module_names:
            continue
        for directory in search:
            found = next((c for c in (directory / top, directory / f"{top}.py") if c.exists()), None)
            if found is not None:
                roots.append(found)
                break
    roots += [Path(p) for p in (launch.packages if launch is not None else ()) if Path(p).exists()]
    return list(dict.fromkeys(roots))


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def _map_strings(value: Any, old: str, new: str) -> Any:
    """Every string equal to ``old`` or below it (``old/...``) re-rooted at ``new``."""
    if isinstance(value, str):
        if value == old:
            return new
        if value.startswith(old.rstrip("/") + "/"):
            return new.rstrip("/") + value[len(old.rstrip("/")):]
        return value
    if isinstance(value, list):
        return [_map_strings(v, old, new) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_strings(v, old, new) for v in value)
    if isinstance(value, dict):
        return {k: _map_strings(v, old, new) for k, v in value.items()}
    return value


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
