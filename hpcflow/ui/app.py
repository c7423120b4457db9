"""The dashboard as an ASGI application: routes, templates, static files, the guard.

``create_app`` wires :class:`hpcflow.ui.pages.Dashboard` to its URLs and wraps the whole
application (static files included) in :class:`hpcflow.ui.security.Guard`. Cancel and
retry exist only with ``allow_actions``; then :mod:`hpcflow.ui.actions` is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from hpcflow.errors import WorkflowNotFound
from hpcflow.store.reader import StoreReader
from hpcflow.ui import present
from hpcflow.ui.pages import Dashboard
from hpcflow.ui.security import LOOPBACK_NAMES, Guard, Secrets, csrf_ok

HERE = Path(__file__).resolve().parent


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.autoescape = True
    env.globals |= {"PHASES": present.PHASES, "STATUSES": present.STATUSES}
    env.filters |= {"when": present.when, "duration": present.duration, "short": present.short,
                    "size": present.size}
    return templates


def create_app(reader: StoreReader, keys: Secrets | None = None, allow_actions: bool = False,
               allowed_hosts: frozenset[str] = LOOPBACK_NAMES) -> Any:
    """The guarded ASGI app over ``reader``'s store."""
    keys = keys or Secrets()
    dash = Dashboard(reader, make_templates(), keys, allow_actions=allow_actions)
    routes = [
        Route("/", dash.workflows),
        Route("/wf/{wf_id}", dash.workflow),
        Route("/wf/{wf_id}/node", dash.node),
        Route("/wf/{wf_id}/log", dash.log),
        Route("/wf/{wf_id}/log/chunk", dash.log_chunk),
        Route("/wf/{wf_id}/image", dash.image),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    if allow_actions:
        routes += _action_routes(reader, keys, allowed_hosts)
    app = Starlette(routes=routes, exception_handlers={WorkflowNotFound: dash.not_found})
    return Guard(app, keys, allowed_hosts)


def _action_routes(reader: StoreReader, keys: Secrets, allowed_hosts: frozenset[str]) -> list[Route]:
    from urllib.parse import parse_qsl

    from starlette.concurrency import run_in_threadpool

    from hpcflow.errors import HpcflowError
    from hpcflow.ui import actions

    def handler(action: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
            headers = {k.lower(): v for k, v in request.headers.items()}
            if not csrf_ok(form, headers, keys, allowed_hosts):
                return Response("hpcflow ui: missing or wrong CSRF token\n", status_code=403,
                                media_type="text/plain")
            wf_id = request.path_params["wf_id"]
            try:
                note = await run_in_threadpool(action, reader.path, wf_id)
            except HpcflowError as exc:
                note = f"error: {exc}"
            return RedirectResponse(f"/wf/{wf_id}?{_note(note)}", status_code=303)
        return endpoint

    return [Route("/wf/{wf_id}/cancel", handler(actions.cancel), methods=["POST"]),
            Route("/wf/{wf_id}/retry", handler(actions.retry), methods=["POST"])]


def _note(text: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"note": text[:300]})
