"""The login node's side of a remote site: ``hpcflow remote-api``, the CLI's JSON mode.

A workstation runs ``hpcflow [--site S] [--home H] remote-api`` over SSH with one JSON
request on stdin, ``{"op": NAME, "args": {...}, "client_version": V}``, and reads one JSON
answer on stdout: ``{"ok": true, "version": V, "result": ...}`` or ``{"ok": false,
"version": V, "error": "...", "kind": "ErrorClass"}``. Every operation is a thin call into
the same store and engine the local CLI uses; the engine and the store never leave the
login node, and the daemon (or cron) drives what is submitted here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hpcflow
from hpcflow.errors import HpcflowError, VersionMismatch

#: Version of the request/answer format (bumped when an operation changes shape).
PROTOCOL = 1


def _client() -> Any:
    from hpcflow.client import get_client

    return get_client()


def op_hello(args: dict[str, Any]) -> dict[str, Any]:
    c = _client()
    return {"version": hpcflow.__version__, "protocol": PROTOCOL, "site": c.site_name,
            "work_root": str(c.settings.work_root), "store": str(c.store.path),
            "daemon": c.daemon_running()}


def op_submit(args: dict[str, Any]) -> dict[str, Any]:
    """Register a workflow built on the workstation (its code and uploads already shipped)."""
    import secrets

    from hpcflow.engine.job_env import LaunchRecord
    from hpcflow.private import make_dirs
    from hpcflow.spec.validate import validate_spec

    c = _client()
    spec = args["spec"]
    validate_spec(spec)
    wf_id = f"{args['name']}-{secrets.token_hex(3)}"
    work_dir = c.settings.work_root / wf_id
    make_dirs(work_dir, c.settings.work_dir_mode)
    launch = LaunchRecord(tuple(args.get("python_path") or ()), None)
    c.store.create_workflow(wf_id, args["name"], spec, str(work_dir), site={"name": c.site_name},
                            reuse=args.get("reuse") or [], launch=launch.to_json())
    return {"id": wf_id, "work_dir": str(work_dir)}


def op_list(args: dict[str, Any]) -> Any:
    return _client().store.list_workflows(status=args.get("status"), limit=int(args.get("limit", 100)))


def op_get_workflow(args: dict[str, Any]) -> Any:
    return _client().store.get_workflow(args["ref"])


def op_workflow_status(args: dict[str, Any]) -> Any:
    return _client().store.workflow_status(args["id"])


def op_load_nodes(args: dict[str, Any]) -> Any:
    return _client().store.load_nodes(args["id"])


def op_attempts(args: dict[str, Any]) -> Any:
    status = args.get("status")
    return _client().store.attempts(args["id"], status=tuple(status) if status else None)


def op_read_log(args: dict[str, Any]) -> Any:
    """The log of an attempt, given its directory as the store recorded it."""
    c = _client()
    wanted = Path(args["dir"]).resolve()
    known = {Path(a["dir"]).resolve() for a in c.store.attempts(args["id"])}
    if wanted not in known:
        raise HpcflowError(f"{wanted} is not an attempt directory of workflow {args['id']}")
    from hpcflow.runtime.records import read_unit_log

    found = read_unit_log(wanted)  # its own log, or its part of the job's merged log
    return found[1] if found is not None else None


def op_cancel(args: dict[str, Any]) -> Any:
    c = _client()
    wf = c.store.get_workflow(args["id"])
    if wf["status"] not in ("Pending", "Running"):
        raise HpcflowError(f"workflow {wf['id']} is already {wf['status']}")
    with c.lock:
        return c.engine(only={wf["id"]}).cancel(wf["id"])


def op_retry(args: dict[str, Any]) -> Any:
    from hpcflow.engine.engine import reset_failed

    c = _client()
    wf = c.store.get_workflow(args["id"])
    if wf["status"] != "Failed":
        raise HpcflowError(f"workflow {wf['id']} is {wf['status']}; only failed workflows can be retried")
    with c.lock:
        return reset_failed(c.store, wf["id"])


def op_daemon(args: dict[str, Any]) -> Any:
    from hpcflow import daemon
    from hpcflow.settings import current

    c = _client()
    store_dir = c.store.path.parent
    action = args.get("action")
    if action == "start":
        pid = daemon.daemon_pid(store_dir)
        return {"pid": pid if pid is not None else daemon.start_detached(store_dir, current().as_cli_options()),
                "already": pid is not None}
    if action == "stop":
        return {"stopped": daemon.stop(store_dir)}
    return {"pid": daemon.daemon_pid(store_dir)}


OPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "hello": op_hello, "submit": op_submit, "list": op_list, "get_workflow": op_get_workflow,
    "workflow_status": op_workflow_status, "load_nodes": op_load_nodes, "attempts": op_attempts,
    "read_log": op_read_log, "cancel": op_cancel, "retry": op_retry, "daemon": op_daemon,
}


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """One request, one answer; errors become answers, never tracebacks on stdout."""
    answer: dict[str, Any] = {"version": hpcflow.__version__}
    try:
        theirs = request.get("client_version")
        if theirs != hpcflow.__version__:
            raise VersionMismatch(
                f"hpcflow versions differ: this workstation has {theirs}, the login node has "
                f"{hpcflow.__version__}; install the same version on both")
        op = OPS.get(request.get("op", ""))
        if op is None:
            raise HpcflowError(f"unknown remote-api operation {request.get('op')!r}")
        answer.update(ok=True, result=op(request.get("args") or {}))
    except HpcflowError as exc:
        answer.update(ok=False, error=str(exc), kind=type(exc).__name__)
    return answer


def main() -> None:
    try:
        request = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError as exc:
        answer = {"ok": False, "version": hpcflow.__version__, "error": f"bad request: {exc}",
                  "kind": "RemoteError"}
    else:
        answer = handle(request)
    sys.stdout.write(json.dumps(answer, default=str))
