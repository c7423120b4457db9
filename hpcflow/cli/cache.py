"""``hpcflow cache``: explain, list and forget entries of the store's result cache."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import typer

from hpcflow.errors import HpcflowError

cache_app = typer.Typer(help="Inspect the result cache (steps with cache=True).", no_args_is_help=True)


if TYPE_CHECKING:
    from hpcflow.store.db import Store

def _store() -> Store:
    from hpcflow.client import get_client

    store: Store = get_client().store
    return store


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:16] + "…" if len(text) > 20 else text


def explain_unit(store: Any, wf: dict[str, Any], nodes: list[dict[str, Any]], node: dict[str, Any]) -> dict[str, Any]:
    """The key parts of one unit, whether it was a hit, and for a miss what differs from
    the nearest cached entry of the same OP."""
    from hpcflow.cache.key import cache_key, differing_parts

    cache = (node.get("data") or {}).get("cache")
    if cache is None:  # the engine never consulted the cache for it: compute the key now
        from hpcflow.engine.cache_hook import unit_key_parts
        from hpcflow.engine.model import Node
        from hpcflow.engine.run import WorkflowRun

        run = WorkflowRun(wf, [Node.from_row(n) for n in nodes])
        parts = unit_key_parts(run, run.nodes[node["path"]])
        if parts is None:
            raise HpcflowError(f"step {node['path']}: its input artifacts cannot be read here, "
                               "so it has no cache key")
        cache = {"key": cache_key(parts), "parts": parts}
    out: dict[str, Any] = {"step": node["path"], "key": cache["key"], "parts": cache["parts"]}
    cached = (node.get("data") or {}).get("cached")
    if cached:
        out["result"] = f"hit: the result of workflow {cached['workflow']} step {cached['step']}"
        return out
    others = [e for e in store.cache_entries(op=cache["parts"]["op"])
              if (e["workflow_id"], e["node_path"]) != (wf["id"], node["path"])]
    # what the cache held when the unit missed (not what its own siblings added since)
    others = [e for e in others if e["created_at"] < node["created_at"]] or others
    if not others:
        out["result"] = "miss: no cached result of this OP to compare with"
        return out
    diffs = [(differing_parts(cache["parts"], e["parts"]), e) for e in others]
    diff, nearest = min(diffs, key=lambda d: len(d[0]))
    if not diff:
        out["result"] = (f"miss at the time; now cached (workflow {nearest['workflow_id']} step "
                         f"{nearest['node_path']})")
    else:
        out["result"] = f"miss: differs in {', '.join(diff)}"
    out["nearest"] = {"workflow": nearest["workflow_id"], "step": nearest["node_path"], "differs": diff}
    return out


@cache_app.command("explain")
def explain(workflow: str = typer.Argument(..., help="Workflow id or name."),
            step: str = typer.Argument(..., help="Step path (from `hpcflow show`) or name; a sliced step explains every slice."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show a step's cache key parts and, for a miss, which part differs from the nearest entry."""
    store = _store()
    wf = store.get_workflow(workflow)
    nodes = store.load_nodes(wf["id"])
    chosen = [n for n in nodes if n["path"] == step] or [n for n in nodes if n["name"] == step]
    if not chosen:
        raise HpcflowError(f"workflow {wf['id']} has no step {step!r} (give a path from `hpcflow show` or a name)")
    units = [n for n in nodes if n["type"] == "Pod" and (n["path"] == chosen[0]["path"]
                                                         or n["parent"] == chosen[0]["path"])]
    if not units:
        raise HpcflowError(f"step {chosen[0]['path']} of workflow {wf['id']} runs no OP of its own")
    report = [explain_unit(store, wf, nodes, n) for n in units]
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    for item in report:
        typer.echo(f"{item['step']}  key {item['key'][:16]}  {item['result']}")
        for name, value in item["parts"].items():
            if isinstance(value, dict) and name in ("parameters", "artifacts"):
                for k, v in value.items():
                    typer.echo(f"    {name}.{k}: {_short(v)}")
            else:
                typer.echo(f"    {name}: {_short(value)}")


@cache_app.command("list")
def list_(limit: int = typer.Option(100, help="At most this many, newest first."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List cached results: key, OP, the workflow and step that computed it, hits."""
    entries = _store().cache_entries(limit=limit)
    if as_json:
        print(json.dumps([{k: e[k] for k in ("key", "op", "workflow_id", "node_path", "hits", "created_at")}
                          for e in entries], indent=2))
        return
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["created_at"]))
        typer.echo(f"{e['key'][:16]}  {e['op']}  {e['workflow_id']} {e['node_path']}  hits={e['hits']}  {when}")


@cache_app.command("forget")
def forget(key: str | None = typer.Option(None, "--key", help="Entries whose key starts with this."),
           workflow: str | None = typer.Option(None, "--workflow", help="Entries computed by this workflow (id or name)."),
           everything: bool = typer.Option(False, "--all", help="Every entry.")) -> None:
    """Forget cached results (the files stay); later runs compute them again."""
    if not (key or workflow or everything):
        raise HpcflowError("hpcflow cache forget: give --key PREFIX, --workflow WF or --all")
    store = _store()
    wf_id = store.get_workflow(workflow)["id"] if workflow else None
    typer.echo(f"forgot {store.forget_cache(key, wf_id)} cached result(s)")
