"""A small Kubernetes API server emulator on 127.0.0.1, for the kubernetes backend's tests.

No Kubernetes cluster runs on the test machines. kmock (PyPI) was tried first: its
emulator stores objects but ignores label selectors and gives every list the
resourceVersion "...", which are exactly what the backend's polling relies on. So this
module serves the few endpoints hpcflow and the test controller use, over a real HTTP
server (``http.server`` from the standard library), to the real ``kubernetes`` client:

- ``/version``, ``GET /api/v1/namespaces/{ns}``;
- Jobs (``batch/v1``), Pods, ConfigMaps, Secrets: create (409 on a taken name), get,
  list with label selectors (``k=v``, ``k!=v``, ``k in (a,b)``, ``k``, ``!k``), delete
  (a Job's pods go with it), and status writes;
- ``resourceVersion`` as a global counter bumped by every write; a LIST with
  ``resourceVersionMatch=NotOlderThan`` older than the compaction point answers 410;
- ``SelfSubjectAccessReview``, answered from :attr:`Emulator.denied`;
- a bearer token on every request (401 without it).

Every request is counted in :attr:`Emulator.calls` by ``(verb, resource)``.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PATH = re.compile(
    r"^/(?:api/v1|apis/batch/v1)/namespaces/(?P<ns>[^/]+)/(?P<kind>jobs|pods|configmaps|secrets)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?/?$")
_NAMESPACE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/?$")


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def matches(selector: str, labels: dict[str, str]) -> bool:
    """Kubernetes' label-selector rules, for the forms hpcflow uses and a few more."""
    for term in _split_terms(selector):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            inside = labels.get(m.group(1)) in values
            if inside != (m.group(2) == "in"):
                return False
        elif "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _split_terms(selector: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    return terms + [cur]


class Emulator:
    """The objects, the resourceVersion counter and the call counts; thread-safe."""

    def __init__(self, token: str, namespaces: tuple[str, ...] = ("default",)) -> None:
        self.token = token
        self.namespaces = set(namespaces)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rv = 1
        self.compacted = 0
        self.calls: Counter[tuple[str, str]] = Counter()
        #: (verb, resource) pairs a SelfSubjectAccessReview answers "no" to.
        self.denied: set[tuple[str, str]] = set()
        self.lock = threading.RLock()
        #: When set, a Job create is stored, then ``job_created`` is set and the answer waits
        #: for ``release`` (so a test can kill the client between the two).
        self.hold_job_create = False
        self.job_created = threading.Event()
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- object store (also used directly by the test controller) -----------------------
    def _bump(self, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def create(self, kind: str, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            key = (kind, ns, meta.get("name", ""))
            if key in self.objects:
                raise KeyError(key)
            meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=now_iso())
            obj.setdefault("status", {})
            self._bump(obj)
            self.objects[key] = obj
            return copy.deepcopy(obj)

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def update(self, kind: str, ns: str, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((kind, ns, name))
            if obj is None:
                return None
            change(obj)
            self._bump(obj)
            return copy.deepcopy(obj)

    def delete(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.pop((kind, ns, name), None)
            if obj is None:
                return None
            self.rv += 1
            if kind == "jobs":  # propagationPolicy Background: the Job's pods go too
                for key in [k for k, o in self.objects.items() if k[0] == "pods" and k[1] == ns
                            and (o["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name") == name]:
                    del self.objects[key]
            return obj

    def list(self, kind: str, ns: str, selector: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(o) for (k, n, _), o in self.objects.items()
                    if k == kind and n == ns and matches(selector, o["metadata"].get("labels") or {})]

    def compact(self) -> None:
        """Forget history: LISTs asking for older resourceVersions get 410 Gone."""
        with self.lock:
            self.rv += 1
            self.compacted = self.rv

    def list_calls(self) -> int:
        return sum(n for (verb, _), n in self.calls.items() if verb == "list")

    # -- HTTP -------------------------------------------------------------------------
    def start(self) -> str:
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    emu: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                          "reason": reason, "message": message, "code": code})

    def _body(self) -> dict[str, Any]:
        size = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(size) or b"{}")

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.emu.token}":
            self._status(401, "Unauthorized", "Unauthorized")
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")

    def _route(self, method: str) -> None:
        if not self._authorised():
            return
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        emu = self.emu
        if path.rstrip("/") == "/version":
            emu.calls[("get", "version")] += 1
            return self._send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-hpcflow-emulator"})
        if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" and method == "POST":
            emu.calls[("create", "selfsubjectaccessreviews")] += 1
            body = self._body()
            attrs = body.get("spec", {}).get("resourceAttributes", {})
            allowed = (attrs.get("verb"), attrs.get("resource")) not in emu.denied
            body["status"] = {"allowed": allowed, "reason": "" if allowed else "denied by the test"}
            return self._send(201, body)
        m = _NAMESPACE.match(path)
        if m and method == "GET":
            emu.calls[("get", "namespaces")] += 1
            if m.group("ns") not in emu.namespaces:
                return self._status(404, "NotFound", f'namespaces "{m.group("ns")}" not found')
            return self._send(200, {"kind": "Namespace", "apiVersion": "v1",
                                    "metadata": {"name": m.group("ns")}, "status": {"phase": "Active"}})
        m = _PATH.match(path)
        if not m:
            return self._status(404, "NotFound", f"the emulator does not serve {method} {path}")
        ns, kind, name, sub = m.group("ns"), m.group("kind"), m.group("name"), m.group("sub")
        if ns not in emu.namespaces:
            return self._status(404, "NotFound", f'namespaces "{ns}" not found')
        if method == "GET" and name is None:
            return self._list(kind, ns, query)
        verb = {"GET": "get", "POST": "create", "DELETE": "delete", "PUT": "update"}[method]
        emu.calls[(verb, kind)] += 1
        if method == "POST":
            body = self._body()
            try:
                created = emu.create(kind, ns, body)
                if kind == "jobs" and emu.hold_job_create:
                    emu.job_created.set()
                    emu.release.wait(60)
                return self._send(201, created)
            except KeyError:
                return self._status(409, "AlreadyExists",
                                    f'{kind} "{body["metadata"]["name"]}" already exists')
        if method == "GET":
            obj = emu.get(kind, ns, name)
        elif method == "DELETE":
            self._body()
            obj = emu.delete(kind, ns, name)
        else:
            new = self._body()
            field = "status" if sub else "spec"
            obj = emu.update(kind, ns, name, lambda o: o.__setitem__(field, new.get(field, {})))
        if obj is None:
            return self._status(404, "NotFound", f'{kind} "{name}" not found')
        self._send(200, obj)

    def _list(self, kind: str, ns: str, query: dict[str, str]) -> None:
        emu = self.emu
        emu.calls[("list", kind)] += 1
        rv = query.get("resourceVersion")
        with emu.lock:
            if rv and rv != "0" and int(rv) < emu.compacted:
                return self._status(410, "Expired", f"too old resource version: {rv} ({emu.compacted})")
            items = emu.list(kind, ns, query.get("labelSelector", ""))
            current = str(emu.rv)
        kind_name = {"jobs": "JobList", "pods": "PodList", "configmaps": "ConfigMapList",
                     "secrets": "SecretList"}[kind]
        self._send(200, {"kind": kind_name, "apiVersion": "v1",
                         "metadata": {"resourceVersion": current}, "items": items})
