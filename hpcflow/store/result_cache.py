"""The store's result-cache rows (``result_cache``, ``cache_leases``; migration
``0005_result_cache`` in :mod:`hpcflow.store.db`): a finished unit's outputs by content
key, and the lease a unit holds on a key while it computes it. Mixed into ``Store``."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any

from hpcflow.states import ACTIVE_STATUSES

#: Phases of a lease holder's unit that keep its lease alive (None: not saved yet).
_LIVE_PHASES = ("Pending", "Running", None)


class ResultCacheRows:
    """Cache entries and leases; needs the ``conn`` and ``transaction`` of ``Store``."""

    @property
    def conn(self) -> sqlite3.Connection:  # provided by Store
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # provided by Store
        raise NotImplementedError

    def cache_entry(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM result_cache WHERE key = ?", (key,)).fetchone()
        return _cache_dict(row) if row else None

    def put_cache_entry(self, key: str, op: str, parts: dict[str, Any], outputs: dict[str, Any],
                        wf_id: str, node_path: str) -> None:
        """Record a successful result (the first one for a key stays) and end its lease."""
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO result_cache (key, op, parts, outputs, workflow_id,"
                      " node_path, created_at) VALUES (?,?,?,?,?,?,?)",
                      (key, op, json.dumps(parts), json.dumps(outputs), wf_id, node_path, time.time()))
            c.execute("DELETE FROM cache_leases WHERE key = ?", (key,))

    def count_cache_hit(self, key: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE result_cache SET hits = hits + 1 WHERE key = ?", (key,))

    def cache_entries(self, op: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM result_cache", []
        if op is not None:
            sql += " WHERE op = ?"
            args.append(op)
        rows = self.conn.execute(sql + " ORDER BY created_at DESC LIMIT ?", [*args, limit])
        return [_cache_dict(r) for r in rows]

    def forget_cache(self, key_prefix: str | None = None, wf_id: str | None = None) -> int:
        """Delete cache entries (all, by key prefix, or made by one workflow); their files stay."""
        sql, args = "DELETE FROM result_cache WHERE 1=1", []
        if key_prefix:
            sql += " AND substr(key, 1, ?) = ?"
            args += [len(key_prefix), key_prefix]
        if wf_id:
            sql += " AND workflow_id = ?"
            args.append(wf_id)
        with self.transaction() as c:
            return c.execute(sql, args).rowcount

    def take_cache_lease(self, key: str, wf_id: str, node_path: str, ttl_s: float) -> dict[str, Any] | None:
        """Lease ``key`` to this unit, unless another live unit holds it: then return the
        holder. A lease is dead once it expires, or its holder's workflow is no longer
        active, or its holder's unit ended without a result (failed, cancelled)."""
        now = time.time()
        with self.transaction() as c:
            row = c.execute(
                "SELECT l.workflow_id, l.node_path, l.expires_at, w.status, n.phase FROM cache_leases l"
                " LEFT JOIN workflows w ON w.id = l.workflow_id"
                " LEFT JOIN nodes n ON n.workflow_id = l.workflow_id AND n.path = l.node_path"
                " WHERE l.key = ?", (key,)).fetchone()
            if row is not None and (row[0], row[1]) != (wf_id, node_path) and row[2] > now \
                    and row[3] in ACTIVE_STATUSES and row[4] in _LIVE_PHASES:
                return {"workflow_id": row[0], "node_path": row[1]}
            c.execute("INSERT INTO cache_leases (key, workflow_id, node_path, expires_at) VALUES (?,?,?,?)"
                      " ON CONFLICT (key) DO UPDATE SET workflow_id = excluded.workflow_id,"
                      " node_path = excluded.node_path, expires_at = excluded.expires_at",
                      (key, wf_id, node_path, now + ttl_s))
        return None


def _cache_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["parts"], d["outputs"] = json.loads(d["parts"]), json.loads(d["outputs"])
    return d
