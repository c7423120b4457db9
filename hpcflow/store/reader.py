"""Read-only queries for the web dashboard, bounded at any workflow size.

Every query here answers from an index or a bounded range (see migration
``0004_ui_indexes``): the step tree never lists the slices of a fan-out, only their
counts per phase (``GROUP BY`` on the index), and slices come a page at a time (keyset
pagination on ``slice_index``). Large columns (inputs, outputs, the spec) are read only
for the one node or workflow a page shows. The connection is opened with
:func:`connect_readonly`, so nothing here can write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, cast

from hpcflow.errors import WorkflowNotFound
from hpcflow.states import WITHDRAWN_MESSAGE
from hpcflow.store.db import connect_readonly, default_home, pending_migrations

#: Columns of a node that every listing needs; never inputs or outputs (they can be huge).
_LIGHT_NODE = (
    "path, parent, name, template, type, phase, key, slice_index, substr(message, 1, 500) AS message,"
    " attempts, data, started_at, finished_at"
)
#: One page of a fan-out's items in one phase (a seek on ``nodes_child_phases``).
_CHILDREN_PAGE = (
    "SELECT n.path, n.parent, n.name, n.template, n.type, n.phase, n.key, n.slice_index,"
    " substr(n.message, 1, 300) AS message, n.attempts, n.data, n.started_at, n.finished_at,"
    " substr(n.item, 1, 120) AS item, a.job_id AS job_id, a.status AS attempt_status"
    " FROM nodes n LEFT JOIN attempts a ON a.workflow_id = n.workflow_id"
    " AND a.node_path = n.path AND a.number = n.attempts"
    " WHERE n.workflow_id = ? AND n.parent = ? AND n.phase = ? AND n.slice_index > ?"
    " ORDER BY n.slice_index LIMIT ?"
)
_WORKFLOW_COLUMNS = "id, name, status, site, work_dir, message, created_at, updated_at, finished_at, revision"


class NodeNotFound(WorkflowNotFound):
    """A workflow has no step at the given path."""


class StoreReader:
    """The dashboard's view of one store: a read-only connection per thread."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_home() / "hpcflow.db"
        self._local = threading.local()
        #: Migrations the store lacks (the reader cannot apply them); queries still work.
        self.missing_migrations = pending_migrations(self.conn)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_readonly(self.path)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------------ workflows

    def workflows(self, status: str | None = None, name: str | None = None,
                  limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first; ``name`` matches any part of the name or id."""
        sql = f"SELECT {_WORKFLOW_COLUMNS} FROM workflows"
        where, args = _workflow_filter(status, name)
        sql += where + " ORDER BY created_at DESC LIMIT ? OFFSET ?"
        return [_decoded(r, ("site",)) for r in self.conn.execute(sql, [*args, limit, offset])]

    def count_workflows(self, status: str | None = None, name: str | None = None) -> int:
        where, args = _workflow_filter(status, name)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM workflows{where}", args).fetchone()[0])

    def statuses(self) -> dict[str, int]:
        """How many workflows have each status (for the filter)."""
        rows = self.conn.execute("SELECT status, COUNT(*) FROM workflows GROUP BY status")
        return {r[0]: r[1] for r in rows}

    def unit_counts(self, wf_id: str) -> dict[str, int]:
        """How many units (Pods) of a workflow are in each phase, from the index alone."""
        rows = self.conn.execute(
            "SELECT phase, COUNT(*) FROM nodes WHERE workflow_id = ? AND type = 'Pod' GROUP BY phase",
            (wf_id,),
        )
        return {r[0]: r[1] for r in rows}

    def workflow(self, wf_id: str) -> dict[str, Any]:
        """One workflow's row without its spec."""
        row = self.conn.execute(f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE id = ?",
                                (wf_id,)).fetchone()
        if row is None:
            raise WorkflowNotFound(f"no workflow {wf_id!r} in {self.path}")
        return _decoded(row, ("site",))

    def spec(self, wf_id: str) -> dict[str, Any]:
        """The compiled spec (immutable once submitted: callers may cache it)."""
        row = self.conn.execute("SELECT spec FROM workflows WHERE id = ?", (wf_id,)).fetchone()
        if row is None:
            raise WorkflowNotFound(f"no workflow {wf_id!r} in {self.path}")
        return cast("dict[str, Any]", json.loads(row[0]))

    def recent_events(self, wf_id: str, limit: int = 30) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT node_path, ts, kind, substr(message, 1, 300) AS message FROM events"
            " WHERE workflow_id = ? ORDER BY id DESC LIMIT ?", (wf_id, limit))
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------------------- nodes

    def tree(self, wf_id: str, root: str = "") -> list[dict[str, Any]]:
        """The nodes of ``root``'s subtree that are not inside a fan-out item.

        Fan-out items are named ``step(N)`` and step names cannot hold ``(``, so a path
        with no ``(`` below ``root`` is outside every item; for the whole workflow
        (``root == ""``) the partial index ``nodes_outside_fanouts`` holds exactly those.
        """
        if root == "":
            rows = self.conn.execute(
                f"SELECT {_LIGHT_NODE} FROM nodes WHERE workflow_id = ? AND instr(path, '(') = 0"
                " ORDER BY id", (wf_id,))
        else:
            prefix = root + "/"
            rows = self.conn.execute(
                f"SELECT {_LIGHT_NODE} FROM nodes WHERE workflow_id = ?"
                " AND (path = ? OR (path >= ? AND path < ? AND instr(substr(path, ?), '(') = 0))"
                " ORDER BY id", (wf_id, root, prefix, root + "0", len(prefix) + 1))
        return [_decoded(r, ("data",)) for r in rows]

    def withdrawn_counts(self, wf_id: str, paths: list[str]) -> dict[str, int]:
        """How many attempts of each of ``paths`` were withdrawn before they ran (a chained
        job whose producer failed): the tree counts only attempts that ran."""
        counts: dict[str, int] = {}
        for chunk in _chunks(paths, 500):
            rows = self.conn.execute(
                "SELECT node_path, COUNT(*) FROM attempts WHERE workflow_id = ?"
                f" AND node_path IN ({','.join('?' * len(chunk))}) AND status = 'cancelled'"
                " AND substr(message, 1, ?) = ? GROUP BY node_path",
                (wf_id, *chunk, len(WITHDRAWN_MESSAGE), WITHDRAWN_MESSAGE))
            counts.update({path: n for path, n in rows})
        return counts

    def child_counts(self, wf_id: str, parents: list[str]) -> dict[str, dict[str, int]]:
        """Phase counts of the children of each of ``parents`` (fan-outs), from the index."""
        counts: dict[str, dict[str, int]] = {p: {} for p in parents}
        for chunk in _chunks(parents, 500):
            rows = self.conn.execute(
                "SELECT parent, phase, COUNT(*) FROM nodes WHERE workflow_id = ?"
                f" AND parent IN ({','.join('?' * len(chunk))}) GROUP BY parent, phase",
                (wf_id, *chunk))
            for parent, phase, n in rows:
                counts[parent][phase] = n
        return counts

    def children_page(self, wf_id: str, parent: str, after: int = -1, phase: str | None = None,
                      limit: int = 50) -> list[dict[str, Any]]:
        """Items of a fan-out with ``slice_index > after``, in order, with their last job id.

        The index is ordered by phase, then slice: a page of one phase is one seek, and a
        page of every phase merges one such seek per phase present (no scan, no sort of
        the whole fan-out).
        """
        phases = [phase] if phase else list(self.child_counts(wf_id, [parent])[parent])
        rows: list[dict[str, Any]] = []
        for ph in phases:
            rows += [_decoded(r, ("data",)) for r in self.conn.execute(
                _CHILDREN_PAGE, (wf_id, parent, ph, after, limit))]
        rows.sort(key=lambda r: r["slice_index"])
        return rows[:limit]

    def failed_children(self, wf_id: str, parent: str, limit: int = 5) -> list[dict[str, Any]]:
        return self.children_page(wf_id, parent, phase="Failed", limit=limit)

    def node(self, wf_id: str, path: str) -> dict[str, Any]:
        """One node with its inputs and outputs (decoded JSON, values still codec-encoded)."""
        row = self.conn.execute("SELECT * FROM nodes WHERE workflow_id = ? AND path = ?",
                                (wf_id, path)).fetchone()
        if row is None:
            self.workflow(wf_id)  # an unknown workflow says so first
            raise NodeNotFound(f"workflow {wf_id} has no step {path!r}")
        return _decoded(row, ("item", "inputs", "outputs", "data"))

    def attempts(self, wf_id: str, path: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT number, dir, tag, backend, job_id, task_index, status, kind, message,"
            " created_at, submitted_at, finished_at FROM attempts"
            " WHERE workflow_id = ? AND node_path = ? ORDER BY number", (wf_id, path))
        return [dict(r) for r in rows]

    def attempt(self, wf_id: str, path: str, number: int | None = None) -> dict[str, Any] | None:
        """One attempt of a step (the last if ``number`` is None)."""
        if number is None:
            row = self.conn.execute(
                "SELECT * FROM attempts WHERE workflow_id = ? AND node_path = ?"
                " ORDER BY number DESC LIMIT 1", (wf_id, path)).fetchone()
        else:
            row = self.conn.execute(
                "SELECT * FROM attempts WHERE workflow_id = ? AND node_path = ? AND number = ?",
                (wf_id, path, number)).fetchone()
        return dict(row) if row else None


def _workflow_filter(status: str | None, name: str | None) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if status:
        clauses.append("status = ?")
        args.append(status)
    if name:
        pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(name LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')")
        args += [pattern, pattern]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _decoded(row: sqlite3.Row, json_fields: tuple[str, ...]) -> dict[str, Any]:
    d = dict(row)
    for f in json_fields:
        if d.get(f) is not None:
            d[f] = json.loads(d[f])
    return d


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
