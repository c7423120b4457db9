"""The dashboard's pages: what each one reads from the store and hands to its template.

Each handler does a bounded number of indexed queries (see hpcflow/store/reader.py) and
no work proportional to the number of slices: fan-outs are counts, slices are pages.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from hpcflow.errors import HpcflowError
from hpcflow.store.reader import StoreReader
from hpcflow.ui import files, present
from hpcflow.ui.security import Secrets
from hpcflow.ui.svg import render
from hpcflow.ui.tree import StepView, build_tree, fanout_paths

PAGE_SIZE = 50
FINAL_PHASES = ("Succeeded", "Failed", "Skipped", "Omitted")


class _Cache:
    """A small LRU map (specs of workflows, counts of finished ones)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class Dashboard:
    """Page handlers over one store (read-only) and one set of templates."""

    def __init__(self, reader: StoreReader, templates: Jinja2Templates, keys: Secrets,
                 allow_actions: bool = False) -> None:
        self.reader = reader
        self.templates = templates
        self.keys = keys
        self.allow_actions = allow_actions
        self._specs = _Cache(16)
        self._counts = _Cache(1024)

    # ------------------------------------------------------------------------ helpers

    def _page(self, request: Request, name: str, **context: Any) -> Response:
        context |= {"allow_actions": self.allow_actions, "csrf": self.keys.csrf,
                    "missing_migrations": self.reader.missing_migrations}
        return self.templates.TemplateResponse(request, name, context)

    def spec(self, wf_id: str) -> dict[str, Any]:
        spec: dict[str, Any] | None = self._specs.get(wf_id)
        if spec is None:
            spec = self.reader.spec(wf_id)
            self._specs.put(wf_id, spec)
        return spec

    def unit_counts(self, wf: dict[str, Any]) -> dict[str, int]:
        """Counts of a workflow's units; a finished workflow's are cached until it changes."""
        key = (wf["id"], wf["updated_at"], wf["status"])
        counts: dict[str, int] | None = self._counts.get(key)
        if counts is None:
            counts = self.reader.unit_counts(wf["id"])
            if wf["status"] not in present.ACTIVE:
                self._counts.put(key, counts)
        return counts

    def _tree(self, wf_id: str, root: str) -> tuple[StepView | None, list[dict[str, Any]]]:
        rows = self.reader.tree(wf_id, root)
        counts = self.reader.child_counts(wf_id, fanout_paths(rows))
        withdrawn = self.reader.withdrawn_counts(wf_id, [r["path"] for r in rows if (r["attempts"] or 0) > 0])
        return build_tree(rows, counts, self.spec(wf_id), root, withdrawn), rows

    def _failures(self, wf_id: str, tree: StepView | None, limit: int = 20) -> list[dict[str, Any]]:
        """Failed units: those in the tree, then the first failed items of each fan-out."""
        out: list[dict[str, Any]] = []
        for v in tree.walk() if tree else []:
            if len(out) >= limit:
                break
            if v.type == "Pod" and v.phase == "Failed":
                out.append({"path": v.path, "message": v.message, "kind": v.data.get("last_error_kind"),
                            "attempts": v.attempts})
            elif v.type == "FanOut" and (v.counts or {}).get("Failed"):
                for item in self.reader.failed_children(wf_id, v.path, limit=min(5, limit - len(out))):
                    out.append({"path": item["path"], "message": item["message"],
                                "kind": (item.get("data") or {}).get("last_error_kind"),
                                "attempts": item["attempts"], "of": v.counts})
        return out

    # -------------------------------------------------------------------------- pages

    def workflows(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        name = request.query_params.get("q") or None
        offset = _int(request, "offset", 0, minimum=0)
        rows = self.reader.workflows(status=status, name=name, limit=PAGE_SIZE, offset=offset)
        for wf in rows:
            wf["counts"] = self.unit_counts(wf)
            wf["progress"] = present.progress(wf["counts"])
            wf["bar"] = present.bar_segments(wf["counts"])
        total = self.reader.count_workflows(status=status, name=name)
        active = any(wf["status"] in present.ACTIVE for wf in rows)
        return self._page(request, "workflows.html", workflows=rows, status=status, q=name or "",
                          offset=offset, total=total, page_size=PAGE_SIZE,
                          statuses=self.reader.statuses(), refresh=5,
                          active=active, query=_query(request))

    def workflow(self, request: Request) -> Response:
        wf_id = request.path_params["wf_id"]
        wf = self.reader.workflow(wf_id)
        tree, _ = self._tree(wf_id, "")
        counts = self.unit_counts(wf)
        link = f"/wf/{wf_id}/node?path="
        return self._page(
            request, "workflow.html", wf=wf, tree=tree, counts=counts,
            progress=present.progress(counts), segments=present.bar_segments(counts, 240),
            svg=render(tree, link) if tree else "", failures=self._failures(wf_id, tree),
            events=self.reader.recent_events(wf_id), refresh=5 if wf["status"] in present.ACTIVE else None)

    def node(self, request: Request) -> Response:
        wf_id = request.path_params["wf_id"]
        path = request.query_params.get("path", "")
        wf = self.reader.workflow(wf_id)
        node = self.reader.node(wf_id, path)
        attempts = self.reader.attempts(wf_id, path)
        for a in attempts:
            record = files.exit_record(a) if a["status"] in ("succeeded", "failed") else None
            a["host"] = (record or {}).get("host")
            a["log_exists"] = files.log_path(a).exists()
        spec = self.spec(wf_id)
        context: dict[str, Any] = {
            "wf": wf, "node": node, "attempts": attempts, "crumbs": _crumbs(path),
            "step": _step_spec(spec, node), "template": spec["templates"].get(node["template"] or "", {}),
            "inputs": _io(node.get("inputs")), "outputs": _io(node.get("outputs")),
            "refresh": 5 if node["phase"] not in FINAL_PHASES else None,
        }
        context["resources"] = _resources(context["template"], context["step"])
        if node["type"] in ("Steps", "DAG"):
            tree, _ = self._tree(wf_id, path)
            context["tree"] = tree
            context["svg"] = render(tree, f"/wf/{wf_id}/node?path=") if tree else ""
        if node["type"] == "FanOut":
            context |= self._slices(request, wf_id, path)
        return self._page(request, "node.html", **context)

    def _slices(self, request: Request, wf_id: str, path: str) -> dict[str, Any]:
        after = _int(request, "after", -1, minimum=-1)
        phase = request.query_params.get("phase") or None
        if phase is not None and phase not in present.PHASES:
            raise HTTPException(400, f"phase must be one of {', '.join(present.PHASES)}")
        rows = self.reader.children_page(wf_id, path, after=after, phase=phase, limit=PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        counts = self.reader.child_counts(wf_id, [path])[path]
        base = {"path": path} | ({"phase": phase} if phase else {})
        next_url = f"?{urlencode(base | {'after': rows[-1]['slice_index']})}" if more and rows else None
        return {"slices": rows, "slice_counts": counts, "slice_progress": present.progress(counts),
                "slice_phase": phase, "slice_after": after, "next_url": next_url,
                "first_url": f"?{urlencode(base)}"}

    def log(self, request: Request) -> Response:
        wf_id = request.path_params["wf_id"]
        path = request.query_params.get("path", "")
        wf = self.reader.workflow(wf_id)
        node = self.reader.node(wf_id, path)
        attempts = self.reader.attempts(wf_id, path)
        if not attempts:
            raise HTTPException(404, f"step {path!r} of {wf_id} has no attempts")
        number = _int(request, "attempt", attempts[-1]["number"], minimum=1)
        attempt = next((a for a in attempts if a["number"] == number), None)
        if attempt is None:
            raise HTTPException(404, f"step {path!r} of {wf_id} has no attempt {number}")
        chunk = files.read_tail(files.log_path(attempt))
        live = attempt["finished_at"] is None and node["phase"] not in FINAL_PHASES
        return self._page(request, "log.html", wf=wf, node=node, attempts=attempts, attempt=attempt,
                          chunk=chunk, live=live, crumbs=_crumbs(path),
                          chunk_url=f"/wf/{wf_id}/log/chunk?{urlencode({'path': path, 'attempt': number})}")

    def log_chunk(self, request: Request) -> Response:
        """New bytes of a log from ``offset`` (JSON), for the page's streaming script."""
        from starlette.responses import JSONResponse

        wf_id = request.path_params["wf_id"]
        path = request.query_params.get("path", "")
        number = _int(request, "attempt", 1, minimum=1)
        offset = _int(request, "offset", 0, minimum=0)
        attempt = self.reader.attempt(wf_id, path, number)
        if attempt is None:
            self.reader.node(wf_id, path)
            raise HTTPException(404, f"step {path!r} of {wf_id} has no attempt {number}")
        chunk = files.read_from(files.log_path(attempt), offset)
        fresh = self.reader.attempt(wf_id, path, number) or attempt
        return JSONResponse({"text": chunk.text, "start": chunk.start, "end": chunk.end,
                             "size": chunk.size, "done": fresh["finished_at"] is not None,
                             "status": fresh["status"]})

    def image(self, request: Request) -> Response:
        """An output artifact of a step that is a PNG or SVG file, by step, name and index."""
        wf_id = request.path_params["wf_id"]
        node = self.reader.node(wf_id, request.query_params.get("path", ""))
        name = request.query_params.get("name", "")
        value = ((node.get("outputs") or {}).get("artifacts") or {}).get(name)
        entries = files.artifact_entries(value)
        index = _int(request, "i", 0, minimum=0)
        if index >= len(entries):
            raise HTTPException(404, f"step {node['path']!r} has no output artifact {name!r} [{index}]")
        found = files.read_image(entries[index])
        if found is None:
            raise HTTPException(404, f"{entries[index]} is not a PNG or SVG file that can be shown")
        data, kind = found
        # An SVG opened on its own must not run script in the dashboard's origin.
        return Response(data, media_type=kind,
                        headers={"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox"})

    def not_found(self, request: Request, exc: Exception) -> Response:
        return self.templates.TemplateResponse(request, "error.html", {"message": str(exc),
                                                                       "status": 404}, status_code=404)


def _int(request: Request, name: str, default: int, minimum: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise HTTPException(400, f"{name} must be at least {minimum}")
    return value


def _query(request: Request, **change: Any) -> str:
    params = dict(request.query_params) | {k: v for k, v in change.items() if v is not None}
    return urlencode(params)


def _crumbs(path: str) -> list[tuple[str, str]]:
    """(label, path) of each ancestor of a node and the node itself."""
    if not path:
        return []
    parts = path.split("/")
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


def _step_spec(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The step (or task) declaration a node was made from."""
    ref = (node.get("data") or {}).get("step")
    if not ref:
        return {}
    parent = spec["templates"].get(ref[0], {})
    steps = [s for g in parent.get("groups", []) for s in g] + list(parent.get("tasks", []))
    return next((s for s in steps if s["name"] == ref[1]), {})


def _resources(template: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """What the step asks for (template, then the step's executor); site defaults add to it."""
    from hpcflow.resources import normalize_resources

    try:
        merged = normalize_resources(template.get("resources"), (step.get("executor") or {}).get("resources"))
    except HpcflowError as exc:
        return {"error": str(exc)}
    if template.get("timeout"):
        merged["timeout_s"] = template["timeout"]
    return merged


def _io(section: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters as bounded previews; artifacts as the paths or URIs they name."""
    section = section or {}
    params = {k: present.preview(v) for k, v in (section.get("parameters") or {}).items()}
    artifacts = {}
    for k, v in (section.get("artifacts") or {}).items():
        entries = files.artifact_entries(v)
        artifacts[k] = [{"entry": e, "image": files.image_type(e) is not None, "i": i}
                        for i, e in enumerate(entries[:50])] + (
            [{"entry": f"… {len(entries) - 50} more", "image": False, "i": -1}] if len(entries) > 50 else [])
    return {"parameters": params, "artifacts": artifacts}
