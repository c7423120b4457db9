"""``hpcflow retry``: reset a failed workflow's failed steps so the engine runs them again."""

from __future__ import annotations

from hpcflow.engine import model as m
from hpcflow.engine.model import Node
from hpcflow.store.db import Store


def reset_failed(store: Store, wf_id: str) -> int:
    """Prepare a failed workflow for ``hpcflow retry``: failed steps run again, the rest stay."""
    row = store.get_workflow(wf_id)
    nodes = [Node.from_row(r) for r in store.load_nodes(wf_id)]
    by_path = {n.path: n for n in nodes}
    doomed: set[str] = set()
    reset = 0
    for node in nodes:
        if node.phase not in (m.FAILED, m.OMITTED):
            continue
        parent = by_path.get(node.parent) if node.parent is not None else None
        in_fanout = parent is not None and parent.type == m.FANOUT  # fan-outs never recreate children
        if node.type == m.POD and (node.attempts > 0 or in_fanout):
            node.phase, node.finished_at, node.outputs, node.message = m.PENDING, None, None, None
            node.retries = node.system_retries = 0
            reset += 1
        elif node.type == m.FANOUT or node.type in (m.STEPS, m.DAG) and node.inputs is not None:
            node.phase, node.finished_at, node.outputs = m.RUNNING, None, None
        else:  # never got going (an expression error, an omitted task): instantiated anew
            doomed.add(node.path)
            reset += 1
    # a deleted node takes its subtree with it
    for path in list(doomed):
        doomed |= {p for p in by_path if p.startswith(path + "/") or p.startswith(path + "(")}
    with store.transaction():
        store.delete_nodes(wf_id, sorted(doomed))
        for node in nodes:
            if node.path not in doomed:
                store.save_node(wf_id, node.to_row())
        store.conn.execute(
            "UPDATE workflows SET status = 'Running', finished_at = NULL, message = NULL,"
            " revision = revision + 1 WHERE id = ?", (wf_id,)
        )
        store.add_event(wf_id, None, "retry", f"retrying {reset} failed step(s) of {row['name']}")
    return reset

