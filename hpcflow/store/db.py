"""SQLite state store: workflows, nodes (steps), attempts and an append-only event log.

WAL mode and a busy timeout let the CLI read while the engine writes; every state change
and its event commit in one transaction (``with store.transaction():``). Migrations are
named and recorded, so an old store is upgraded in place.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpcflow.errors import StoreError, WorkflowNotFound
from hpcflow.private import make_private_home, private_file
from hpcflow.states import ACTIVE_ATTEMPTS, ACTIVE_STATUSES, AttemptStatus, WorkflowStatus
from hpcflow.store.nodes import NodeRows, in_chunks
from hpcflow.store.result_cache import ResultCacheRows

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE workflows (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
            spec TEXT NOT NULL, site TEXT, reuse TEXT, work_dir TEXT NOT NULL,
            message TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
            finished_at REAL, revision INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX workflows_status ON workflows(status);
        CREATE TABLE nodes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            workflow_id TEXT NOT NULL REFERENCES workflows(id),
            path TEXT NOT NULL, parent TEXT, name TEXT NOT NULL, template TEXT,
            type TEXT NOT NULL, phase TEXT NOT NULL, key TEXT, item TEXT,
            slice_index INTEGER, inputs TEXT, outputs TEXT, message TEXT,
            attempts INTEGER NOT NULL DEFAULT 0, data TEXT,
            created_at REAL NOT NULL, started_at REAL, finished_at REAL,
            UNIQUE (workflow_id, path)
        );
        CREATE INDEX nodes_key ON nodes(workflow_id, key);
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            workflow_id TEXT NOT NULL, node_path TEXT NOT NULL, number INTEGER NOT NULL,
            dir TEXT NOT NULL, tag TEXT NOT NULL, backend TEXT NOT NULL,
            job_id TEXT, task_index INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL, kind TEXT, message TEXT,
            created_at REAL NOT NULL, submitted_at REAL, finished_at REAL,
            UNIQUE (workflow_id, node_path, number)
        );
        CREATE INDEX attempts_status ON attempts(workflow_id, status);
        CREATE INDEX attempts_tag ON attempts(tag);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, workflow_id TEXT NOT NULL,
            node_path TEXT, ts REAL NOT NULL, kind TEXT NOT NULL, message TEXT
        );
        CREATE INDEX events_wf ON events(workflow_id, id);
        CREATE TABLE daemon (
            id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, host TEXT,
            started_at REAL, heartbeat REAL
        );
        """,
    ),
    (
        # How to start the jobs of a workflow (hpcflow.engine.job_env.LaunchRecord), recorded
        # by the submitting process so that whoever ticks never lends its own environment.
        "0002_launch_record",
        "ALTER TABLE workflows ADD COLUMN launch TEXT",
    ),
    (
        # Retry counters the engine decides on become typed columns (they lived in the JSON
        # bag nodes.data); values of running workflows are carried over.
        "0003_node_retry_counters",
        """
        ALTER TABLE nodes ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE nodes ADD COLUMN system_retries INTEGER NOT NULL DEFAULT 0;
        UPDATE nodes SET retries = COALESCE(json_extract(data, '$.retries'), 0),
                         system_retries = COALESCE(json_extract(data, '$.system_retries'), 0)
            WHERE data IS NOT NULL AND data != 'null'
        """,
    ),
    (
        # What the web dashboard (hpcflow.ui) reads at any size, from indexes alone: a step's
        # children by phase and slice (phase counts without a sort, a page of one phase by
        # seek), a workflow's units by phase, and the nodes outside fan-out items (a path
        # with no '(': the step tree without its slices).
        "0004_ui_indexes",
        """
        CREATE INDEX nodes_child_phases ON nodes(workflow_id, parent, phase, slice_index);
        CREATE INDEX nodes_unit_phases ON nodes(workflow_id, type, phase);
        CREATE INDEX nodes_outside_fanouts ON nodes(workflow_id, path) WHERE instr(path, '(') = 0
        """,
    ),
    (
        # The result cache (hpcflow.cache): a finished unit's outputs by content key, and
        # the lease a workflow holds on a key while it computes it.
        "0005_result_cache",
        """
        CREATE TABLE result_cache (
            key TEXT PRIMARY KEY, op TEXT NOT NULL, parts TEXT NOT NULL, outputs TEXT NOT NULL,
            workflow_id TEXT NOT NULL, node_path TEXT NOT NULL, created_at REAL NOT NULL,
            hits INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX result_cache_op ON result_cache(op, created_at);
        CREATE TABLE cache_leases (
            key TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, node_path TEXT NOT NULL,
            expires_at REAL NOT NULL
        )
        """,
    ),
    (
        # The revision at which a workflow had every unfinished unit in flight and nothing
        # else to do: an engine that starts (a cron tick) polls its attempts without loading
        # its nodes, and loads them only when one finishes (hpcflow.engine.engine).
        "0006_quiet_revision",
        "ALTER TABLE workflows ADD COLUMN quiet_revision INTEGER",
    ),
    (
        # When an attempt's job was first seen gone from the queue without an exit record:
        # the grace period before it is declared lost spans processes (a cron tick is a new
        # one each minute), so it starts from here, not from an engine's memory.
        "0007_attempt_gone_since",
        "ALTER TABLE attempts ADD COLUMN gone_since REAL",
    ),
]

def default_home() -> Path:
    """Where the store and work directories live (``--home``, $HPCFLOW_HOME, ~/.hpcflow)."""
    from hpcflow.settings import current

    return current().home


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A connection that cannot write: SQLite's ``mode=ro`` plus ``query_only``.

    For readers that must never change the store (the web dashboard): no migration, no
    mode tightening, no file created but SQLite's own WAL index. WAL lets it read while
    the engine writes.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no state store at {path} (nothing was submitted with this HPCFLOW_HOME)")
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("SELECT 1 FROM workflows LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open state store {path} read-only: {exc}") from exc
    return conn


def pending_migrations(conn: sqlite3.Connection) -> list[str]:
    """The migrations a store has not had yet (an older hpcflow made it)."""
    try:
        done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    except sqlite3.Error:
        done = set()
    return [name for name, _ in MIGRATIONS if name not in done]


class Store(NodeRows, ResultCacheRows):
    """One SQLite database (one per user by default)."""

    #: How long a write waits for another process's write lock before giving up.
    busy_timeout_s = 30.0

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_home() / "hpcflow.db"
        make_private_home(self.path.parent)
        for suffix in ("", "-wal", "-shm"):  # SQLite gives its WAL files the store's mode
            if suffix == "" or self.path.with_name(self.path.name + suffix).exists():
                private_file(self.path.with_name(self.path.name + suffix))
        self._local = threading.local()
        self._migrate()

    # ------------------------------------------------------------------ connection plumbing

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                # The WAL grows to the largest transaction (a 100,000-slice fan-out writes
                # ~100 MB at once); truncate it back after each checkpoint.
                conn.execute("PRAGMA journal_size_limit=8388608")
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open state store {self.path}: {exc}") from exc
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested uses join the outer one (savepoints)."""
        conn = self.conn
        depth = self._local.depth
        name = f"sp{depth}"
        try:
            conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
        except sqlite3.OperationalError as exc:  # "database is locked" after the busy timeout
            raise StoreError(
                f"the state store {self.path} stayed locked by another process for "
                f"{self.busy_timeout_s:.0f} s ({exc}); nothing was changed, try again (a process "
                "holding a transaction open on it, such as an sqlite3 shell, blocks every write)"
            ) from exc
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO {name}")
            if depth:
                conn.execute(f"RELEASE {name}")
            raise
        else:
            conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
        finally:
            self._local.depth = depth

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        if not pending_migrations(self.conn):
            return  # up to date: a reader never waits for another process's write lock
        with self.transaction() as c:
            c.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)")
            done = {r[0] for r in c.execute("SELECT name FROM migrations")}
            for name, sql in MIGRATIONS:
                if name not in done:
                    for statement in sql.split(";"):
                        if statement.strip():
                            c.execute(statement)
                    c.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))

    # ------------------------------------------------------------------------ workflows

    def create_workflow(self, wf_id: str, name: str, spec: dict[str, Any], work_dir: str,
                        site: dict[str, Any] | None = None, reuse: list[Any] | None = None,
                        launch: dict[str, Any] | None = None) -> None:
        now = time.time()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO workflows (id, name, status, spec, site, reuse, launch, work_dir,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (wf_id, name, "Pending", json.dumps(spec), json.dumps(site or {}),
                 json.dumps(reuse or []), json.dumps(launch) if launch else None, work_dir, now, now),
            )
            self.add_event(wf_id, None, "submitted", f"workflow {name} submitted")

    def get_workflow(self, ref: str) -> dict[str, Any]:
        """A workflow by id, or by name (the most recent one with that name)."""
        row = self.conn.execute("SELECT * FROM workflows WHERE id = ?", (ref,)).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT * FROM workflows WHERE name = ? ORDER BY created_at DESC LIMIT 1", (ref,)
            ).fetchone()
        if row is None:
            raise WorkflowNotFound(f"no workflow {ref!r} in {self.path}")
        return _workflow_dict(row)

    def list_workflows(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT id, name, status, created_at, updated_at, finished_at, message FROM workflows"
        args: tuple[Any, ...] = ()
        if status:
            sql += " WHERE status = ?"
            args = (status,)
        sql += " ORDER BY created_at DESC LIMIT ?"
        return [dict(r) for r in self.conn.execute(sql, args + (limit,))]

    def set_workflow_status(self, wf_id: str, status: str, message: str | None = None) -> None:
        now = time.time()
        finished = now if WorkflowStatus(status).final else None
        with self.transaction() as c:
            c.execute(
                "UPDATE workflows SET status = ?, message = ?, updated_at = ?, finished_at = ?"
                " WHERE id = ?",
                (status, message, now, finished, wf_id),
            )
            self.add_event(wf_id, None, f"workflow-{status.lower()}", message)

    def active_revisions(self) -> dict[str, int]:
        """Revision of every active workflow: a changed revision means another process wrote."""
        rows = self.conn.execute(
            "SELECT id, revision FROM workflows WHERE status IN (?, ?)", ACTIVE_STATUSES
        )
        return {r[0]: r[1] for r in rows}

    def quiet_revisions(self) -> dict[str, int]:
        """Active workflows whose current revision was marked quiet (:meth:`mark_quiet`)."""
        rows = self.conn.execute(
            "SELECT id, revision FROM workflows WHERE status IN (?, ?) AND quiet_revision = revision",
            ACTIVE_STATUSES)
        return {r[0]: r[1] for r in rows}

    def mark_quiet(self, wf_id: str, revision: int) -> None:
        """Inside a transaction: at ``revision`` the workflow waits only for attempts in
        flight (a write by anyone since then makes the mark stale)."""
        self.conn.execute("UPDATE workflows SET quiet_revision = ? WHERE id = ? AND revision = ?",
                          (revision, wf_id, revision))

    def workflow_site_name(self, wf_id: str) -> str | None:
        """The name of the site a workflow was submitted for (without reading its spec)."""
        row = self.conn.execute("SELECT site FROM workflows WHERE id = ?", (wf_id,)).fetchone()
        site = json.loads(row[0]) if row is not None and row[0] else None
        return site.get("name") if isinstance(site, dict) else None

    def bump_revision(self, wf_id: str, status: str | None = None) -> int:
        """Inside a transaction: note that this process wrote the workflow's state."""
        now = time.time()
        if status is not None:
            self.conn.execute(
                "UPDATE workflows SET status = ? WHERE id = ? AND status != ?", (status, wf_id, status)
            )
        self.conn.execute(
            "UPDATE workflows SET revision = revision + 1, updated_at = ? WHERE id = ?", (now, wf_id)
        )
        row = self.conn.execute("SELECT revision FROM workflows WHERE id = ?", (wf_id,)).fetchone()
        return int(row[0])

    def workflow_status(self, wf_id: str) -> str:
        row = self.conn.execute("SELECT status FROM workflows WHERE id = ?", (wf_id,)).fetchone()
        if row is None:
            raise WorkflowNotFound(f"no workflow {wf_id!r} in {self.path}")
        return str(row[0])

    # ------------------------------------------------------------------------- attempts

    def add_attempt(self, wf_id: str, attempt: dict[str, Any]) -> None:
        self.add_attempts(wf_id, [attempt])

    def add_attempts(self, wf_id: str, attempts: Iterable[dict[str, Any]]) -> None:
        now = time.time()
        self.conn.executemany(
            "INSERT INTO attempts (workflow_id, node_path, number, dir, tag, backend, job_id,"
            " task_index, status, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ((wf_id, a["node_path"], a["number"], a["dir"], a["tag"], a["backend"], a.get("job_id"),
              a.get("task_index", 0), a["status"], now) for a in attempts),
        )

    def update_attempt(self, wf_id: str, node_path: str, number: int, **fields: Any) -> None:
        self.update_attempts([(wf_id, node_path, number, fields)])

    def update_attempts(self, updates: Iterable[tuple[str, str, int, dict[str, Any]]]) -> None:
        """Attempt changes ``(workflow, node path, number, fields)`` in order, one statement
        per run of changes to the same fields (a submitted array updates 100,000 attempts
        alike), its rows streamed to SQLite rather than collected first."""
        for names, run in itertools.groupby(updates, key=lambda u: tuple(u[3])):
            sets = ", ".join(f"{k} = ?" for k in names)
            self.conn.executemany(
                f"UPDATE attempts SET {sets} WHERE workflow_id = ? AND node_path = ? AND number = ?",
                ([*fields.values(), wf_id, node_path, number] for wf_id, node_path, number, fields in run))

    def active_attempts(self, wf_id: str, status: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """``(node_path, number, dir, tag, status, job_id, task_index, submitted_at,
        gone_since)`` of the attempts in ``status``: what the engine loads (plain tuples:
        100,000 of them on a big fan-out)."""
        return self.conn.execute(
            "SELECT node_path, number, dir, tag, status, job_id, task_index, submitted_at,"
            " gone_since FROM attempts"
            f" WHERE workflow_id = ? AND status IN ({','.join('?' * len(status))}) ORDER BY id",
            [wf_id, *status]).fetchall()

    def attempts_of_jobs(self, wf_id: str, job_ids: Iterable[str]) -> list[tuple[Any, ...]]:
        """The attempts in flight (rows as :meth:`active_attempts`) run by these jobs."""
        return [r for chunk in in_chunks(list(job_ids)) for r in self.conn.execute(
            "SELECT node_path, number, dir, tag, status, job_id, task_index, submitted_at"
            " FROM attempts WHERE workflow_id = ? AND status IN (?, ?)"
            f" AND job_id IN ({','.join('?' * len(chunk))}) ORDER BY id",
            [wf_id, *ACTIVE_ATTEMPTS, *chunk])]

    def submitted_job_ids(self, wf_id: str) -> list[str] | None:
        """The job ids of a workflow's attempts in flight, or ``None`` when one of them
        still waits for its job id (the engine must load the run to adopt it)."""
        rows = self.conn.execute(
            "SELECT status, job_id FROM attempts WHERE workflow_id = ? AND status IN (?, ?)",
            (wf_id, *ACTIVE_ATTEMPTS)).fetchall()
        if any(r[0] != AttemptStatus.SUBMITTED or r[1] is None for r in rows):
            return None
        return [r[1] for r in rows]

    def attempts(self, wf_id: str, status: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM attempts WHERE workflow_id = ?", [wf_id]
        if status:
            sql += f" AND status IN ({','.join('?' * len(status))})"
            args += list(status)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def attempt_runtimes(self, wf_id: str, limit: int = 500) -> list[tuple[str, float]]:
        """(node path, seconds from submission to end) of the latest successful attempts:
        what the engine expects of the same step's jobs in flight."""
        rows = self.conn.execute(
            "SELECT node_path, finished_at - submitted_at FROM attempts WHERE workflow_id = ?"
            " AND status = 'succeeded' AND submitted_at IS NOT NULL AND finished_at IS NOT NULL"
            " ORDER BY id DESC LIMIT ?", (wf_id, limit))
        return [(r[0], float(r[1])) for r in rows]

    # --------------------------------------------------------------------------- events

    def add_event(self, wf_id: str, node_path: str | None, kind: str, message: str | None) -> None:
        self.add_events(wf_id, [(node_path, kind, message)])

    def add_events(self, wf_id: str, events: Iterable[tuple[str | None, str, str | None]]) -> None:
        now = time.time()
        self.conn.executemany(
            "INSERT INTO events (workflow_id, node_path, ts, kind, message) VALUES (?,?,?,?,?)",
            ((wf_id, path, now, kind, message) for path, kind, message in events),
        )

    # --------------------------------------------------------------------------- daemon

    def record_daemon(self, pid: int | None, host: str | None) -> None:
        now = time.time()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO daemon (id, pid, host, started_at, heartbeat) VALUES (1,?,?,?,?)"
                " ON CONFLICT (id) DO UPDATE SET pid=excluded.pid, host=excluded.host,"
                " started_at=excluded.started_at, heartbeat=excluded.heartbeat",
                (pid, host, now, now),
            )

    def heartbeat(self) -> None:
        with self.transaction() as c:
            c.execute("UPDATE daemon SET heartbeat = ? WHERE id = 1", (time.time(),))

    def daemon_info(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM daemon WHERE id = 1").fetchone()
        return dict(row) if row else None


def _workflow_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    for f in ("spec", "site", "reuse", "launch"):
        d[f] = json.loads(d[f]) if d[f] else None
    return d
