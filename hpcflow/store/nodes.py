"""Node rows: a workflow's step instances, saved in one statement for a whole fan-out.

JSON columns (``item``, ``inputs``, ``outputs``, ``data``) are encoded here; a value that
already is JSON text (:class:`~hpcflow.store.rawjson.RawJson`) is written as it is, and the
engine may ask for ``inputs`` to stay text when it loads a run.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Iterable
from typing import Any

from hpcflow.states import Phase
from hpcflow.store.rawjson import RawJson

NODE_COLUMNS = (
    "path", "parent", "name", "template", "type", "phase", "key", "item", "slice_index",
    "inputs", "outputs", "message", "attempts", "retries", "system_retries", "data",
    "created_at", "started_at", "finished_at",
)
_JSON_NODE_FIELDS = ("item", "inputs", "outputs", "data")
_SAVE_NODE_SQL = (
    f"INSERT INTO nodes (workflow_id, {', '.join(NODE_COLUMNS)}) VALUES (?, {', '.join('?' * len(NODE_COLUMNS))})"
    f" ON CONFLICT (workflow_id, path) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in NODE_COLUMNS if c != "path")
)


class NodeRows:
    """The node queries of :class:`~hpcflow.store.db.Store` (which provides ``conn``)."""

    @property
    def conn(self) -> sqlite3.Connection:  # provided by Store
        raise NotImplementedError

    def load_nodes(self, wf_id: str, raw_inputs: bool = False) -> list[dict[str, Any]]:
        """A workflow's node rows, JSON columns decoded; with ``raw_inputs``, ``inputs`` is
        left as :class:`RawJson` text (the engine decodes a node's inputs when it reads them)."""
        rows = self.conn.execute("SELECT * FROM nodes WHERE workflow_id = ? ORDER BY id", (wf_id,))
        return [_node_dict(r, raw_inputs) for r in rows]

    def load_nodes_at(self, wf_id: str, paths: Iterable[str], raw_inputs: bool = False) -> list[dict[str, Any]]:
        """The node rows at ``paths`` (as :meth:`load_nodes`), for an engine that needs a
        few units of a big workflow, not all of it."""
        return [_node_dict(r, raw_inputs) for chunk in in_chunks(list(paths)) for r in self.conn.execute(
            f"SELECT * FROM nodes WHERE workflow_id = ? AND path IN ({','.join('?' * len(chunk))})"
            " ORDER BY id", [wf_id, *chunk])]

    def unfinished_children(self, wf_id: str, parent: str) -> int:
        """How many children of ``parent`` are pending or running (an index seek)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM nodes WHERE workflow_id = ? AND parent = ? AND phase IN (?, ?)",
            (wf_id, parent, Phase.PENDING, Phase.RUNNING)).fetchone()
        return int(row[0])

    def save_node(self, wf_id: str, node: dict[str, Any]) -> None:
        self.save_nodes(wf_id, [node])

    def save_nodes(self, wf_id: str, nodes: Iterable[dict[str, Any]]) -> None:
        """Insert or update node rows (one statement for all: a fan-out saves 100,000)."""
        self.conn.executemany(_SAVE_NODE_SQL, (_node_values(wf_id, node) for node in nodes))

    def delete_nodes(self, wf_id: str, paths: list[str]) -> None:
        self.conn.executemany(
            "DELETE FROM nodes WHERE workflow_id = ? AND path = ?", [(wf_id, p) for p in paths]
        )


def in_chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """Lists short enough for one ``IN (...)`` (SQLite caps a statement's variables)."""
    return [items[i:i + size] for i in range(0, len(items), size)]


#: Where the JSON columns are in a row of NODE_COLUMNS, and all columns of a full row at once.
_JSON_AT = tuple(NODE_COLUMNS.index(f) for f in _JSON_NODE_FIELDS)
_columns_of = operator.itemgetter(*NODE_COLUMNS)


def _node_values(wf_id: str, node: dict[str, Any]) -> list[Any]:
    """A row's values in NODE_COLUMNS order, JSON columns encoded (absent keys are NULL)."""
    try:
        values = [wf_id, *_columns_of(node)]
    except KeyError:
        values = [wf_id, *(node.get(f) for f in NODE_COLUMNS)]
    for i in _JSON_AT:
        values[i + 1] = _json_column(values[i + 1])
    return values


def _json_column(value: Any) -> str:
    """A JSON column's text: ``RawJson`` as it is, ``None`` as ``null`` (both without the
    encoder: a fan-out saves four JSON columns for each of 100,000 slices)."""
    if value is None:
        return "null"
    if isinstance(value, RawJson):
        return value
    return json.dumps(value)


def _node_dict(row: sqlite3.Row, raw_inputs: bool = False) -> dict[str, Any]:
    d = dict(row)
    for f in _JSON_NODE_FIELDS:
        value = d[f]
        if value is None or value == "null":
            d[f] = None
        elif raw_inputs and f == "inputs":
            d[f] = RawJson(value)
        else:
            d[f] = json.loads(value)
    return d
