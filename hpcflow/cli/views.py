"""Text views of workflows for the CLI (rich tables and trees; JSON for scripts)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from hpcflow import codec
from hpcflow.states import WITHDRAWN_MESSAGE

PHASE_STYLE = {
    "Succeeded": "green", "Failed": "red", "Running": "yellow", "Pending": "dim",
    "Skipped": "cyan", "Omitted": "magenta",
}


def duration(start: float | None, end: float | None) -> str:
    if start is None:
        return ""
    seconds = (end or time.time()) - start
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def workflows_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("ID", "NAME", "STATUS", "CREATED", "DURATION", "MESSAGE")
    for r in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"]))
        style = PHASE_STYLE.get(r["status"], "")
        table.add_row(r["id"], r["name"], f"[{style}]{r['status']}[/]", created,
                      duration(r["created_at"], r["finished_at"]), (r.get("message") or "")[:60])
    return table


def where_units_ran(wf: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, str]:
    """Node path → the site its last submitted attempt ran on (bursting sends some away);
    attempts withdrawn before they ran (a chained job whose producer failed) are left out."""
    from hpcflow.engine.burst import where_ran

    home = (wf.get("site") or {}).get("name") or "local"
    out: dict[str, str] = {}
    for a in attempts:  # in attempt order: the last one wins
        if a.get("job_id") and not _withdrawn(a):
            out[a["node_path"]] = where_ran(a["job_id"], home)
    return out


def withdrawn_attempts(attempts: list[dict[str, Any]]) -> dict[str, int]:
    """Node path → how many of its attempts were withdrawn before they ran."""
    out: dict[str, int] = {}
    for a in attempts:
        if _withdrawn(a):
            out[a["node_path"]] = out.get(a["node_path"], 0) + 1
    return out


def _withdrawn(attempt: dict[str, Any]) -> bool:
    return attempt.get("status") == "cancelled" and (attempt.get("message") or "").startswith(WITHDRAWN_MESSAGE)


def step_tree(wf: dict[str, Any], nodes: list[dict[str, Any]], max_children: int = 50,
              ran_on: dict[str, str] | None = None, withdrawn: dict[str, int] | None = None) -> Tree:
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        by_parent.setdefault(n["parent"], []).append(n)
    root = next((n for n in nodes if n["path"] == ""), None)
    tree = Tree(f"[bold]{wf['id']}[/] {wf['name']} [{PHASE_STYLE.get(wf['status'], '')}]{wf['status']}[/]")
    if root is None:
        return tree

    def label(n: dict[str, Any]) -> str:
        style = PHASE_STYLE.get(n["phase"], "")
        parts = [f"{n['name']}", f"[{style}]{n['phase']}[/]", n["type"]]
        if n["key"]:
            parts.append(f"key={n['key']}")
        ran = (n["attempts"] or 0) - (withdrawn or {}).get(n["path"], 0)  # withdrawn never ran
        if ran > 0:
            parts.append(f"attempts={ran}")
        if ran_on and n["path"] in ran_on:
            parts.append(f"on={ran_on[n['path']]}")
        cached = (n.get("data") or {}).get("cached")
        if cached:
            parts.append(f"cached from {cached['workflow']} {cached['step']}")
        parts.append(duration(n["started_at"], n["finished_at"]))
        if n["message"] and n["phase"] not in ("Running", "Succeeded"):
            parts.append(f"— {n['message'][:100]}")
        return "  ".join(p for p in parts if p)

    def add(branch: Tree, parent: str) -> None:
        kids = by_parent.get(parent, [])
        shown = kids if len(kids) <= max_children else kids[:max_children]
        for kid in shown:
            add(branch.add(label(kid)), kid["path"])
        if len(kids) > len(shown):
            counts = Counter(k["phase"] for k in kids)
            branch.add(f"… {len(kids) - len(shown)} more ({', '.join(f'{v} {k}' for k, v in counts.items())})")

    add(tree, "")
    return tree


def decoded_outputs(outputs: dict[str, Any] | None) -> dict[str, Any]:
    outputs = outputs or {}
    return {
        "parameters": {k: codec.decode(v) for k, v in outputs.get("parameters", {}).items()},
        "artifacts": outputs.get("artifacts", {}),
    }


def progress_line(nodes: list[dict[str, Any]]) -> str:
    pods = [n for n in nodes if n["type"] == "Pod"]
    counts = Counter(n["phase"] for n in pods)
    order = ("Succeeded", "Running", "Pending", "Failed", "Skipped")
    return "  ".join(f"[{PHASE_STYLE.get(k, '')}]{k.lower()} {counts[k]}[/]" for k in order if counts[k])


def make_console() -> Console:
    return Console(highlight=False)
