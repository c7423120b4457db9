"""`hpcflow show` counts only attempts that ran: a chained job withdrawn because its producer
failed is neither an attempt nor a place the step ran."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from hpcflow.cli import views
from hpcflow.states import WITHDRAWN_MESSAGE


def _node(path: str, name: str, phase: str, attempts: int, parent: str | None = "") -> dict[str, Any]:
    return {"path": path, "parent": parent, "name": name, "phase": phase, "type": "Pod", "key": None,
            "attempts": attempts, "data": {}, "started_at": None, "finished_at": None, "message": None}


def _text(tree: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(tree)
    return out.getvalue()


def test_a_withdrawn_attempt_is_not_shown_as_an_attempt_or_a_site() -> None:
    wf = {"id": "w-1", "name": "w", "status": "Failed", "site": {"name": "cluster"}}
    nodes = [{**_node("", "w", "Failed", 0, None), "type": "Steps"},
             _node("score", "score", "Failed", 2), _node("best", "best", "Omitted", 1)]
    attempts = [
        {"node_path": "score", "number": 1, "status": "failed", "job_id": "11", "message": "boom"},
        {"node_path": "score", "number": 2, "status": "failed", "job_id": "12", "message": "boom"},
        {"node_path": "best", "number": 1, "status": "cancelled", "job_id": "13",
         "message": f"{WITHDRAWN_MESSAGE}: score failed"},
    ]
    text = _text(views.step_tree(wf, nodes, ran_on=views.where_units_ran(wf, attempts),
                                 withdrawn=views.withdrawn_attempts(attempts)))
    score = next(line for line in text.splitlines() if "score" in line)
    best = next(line for line in text.splitlines() if "best" in line)
    assert "attempts=2" in score and "on=cluster" in score
    assert "Omitted" in best and "attempts=" not in best and "on=" not in best
