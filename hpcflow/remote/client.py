"""The workstation's side of a remote site: a client whose store is on the login node.

``hpcflow --site remote.toml submit wf.py``, ``wf.submit()`` and ``wf.wait()`` in a script
or notebook, ``list``, ``show``, ``logs``, ``outputs``, ``artifacts get``, ``cancel`` and
``retry`` all go through :class:`RemoteClient`: each store read is one call of the login
node's ``hpcflow remote-api`` (see :mod:`hpcflow.remote.server`) over the site's SSH
transport, and files move as tar streams over the same connection. Nothing drives a
workflow from here: the login node's daemon or cron does, so the laptop may sleep.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any, cast

import hpcflow
from hpcflow.errors import RemoteError, StorageError, VersionMismatch, WorkflowNotFound
from hpcflow.private import make_dirs
from hpcflow.transport import files

FINAL = ("Succeeded", "Failed", "Error")
_ERRORS = {"WorkflowNotFound": WorkflowNotFound, "VersionMismatch": VersionMismatch}


class RemoteStore:
    """The read side of the login node's store, with the method names of :class:`Store`."""

    def __init__(self, client: RemoteClient) -> None:
        self._client = client
        self.path = Path(f"{client.site_name}:remote-store")

    def list_workflows(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self._client.call("list", status=status, limit=limit))

    def get_workflow(self, ref: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self._client.call("get_workflow", ref=ref))

    def workflow_status(self, wf_id: str) -> str:
        return cast(str, self._client.call("workflow_status", id=wf_id))

    def load_nodes(self, wf_id: str) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self._client.call("load_nodes", id=wf_id))

    def attempts(self, wf_id: str, status: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]",
                    self._client.call("attempts", id=wf_id, status=list(status) if status else None))


class RemoteClient:
    """Submit to and watch a login node's hpcflow from this machine."""

    remote = True
    scheduler = None

    def __init__(self, config: Any, home: Path) -> None:
        from hpcflow.engine.settings import EngineSettings
        from hpcflow.transport.ssh import make_transport

        self.config = config
        self.site_name = config.name
        self.ssh = config.ssh
        self.transport = make_transport(config.ssh, config.name, home)
        self.store = RemoteStore(self)
        # upload_artifact copies into this outbox; submit() ships what the spec refers to
        self.outbox = make_dirs(Path(home) / "outbox" / config.name)
        self.settings = EngineSettings(work_root=self.outbox)
        self._hello: dict[str, Any] | None = None

    # --- the remote call -------------------------------------------------------------------

    def _argv(self) -> list[str]:
        argv = [self.ssh.remote_hpcflow]
        if self.ssh.remote_site:
            argv += ["--site", self.ssh.remote_site]
        if self.ssh.remote_home:
            argv += ["--home", self.ssh.remote_home]
        return [*argv, "remote-api"]

    def call(self, op: str, **args: Any) -> Any:
        """One operation on the login node; its error becomes the same error here."""
        request = json.dumps({"op": op, "args": args, "client_version": hpcflow.__version__})
        result = self.transport.run(self._argv(), input=request, timeout=self.ssh.command_timeout_s)
        try:
            answer = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise RemoteError(
                f"{self.site_name}: `{' '.join(self._argv())}` on the login node did not answer "
                f"in JSON (exit {result.returncode}): {result.stderr.strip()[-400:] or result.stdout[-400:]}"
                " — is remote_hpcflow the path of hpcflow there?") from None
        if not answer.get("ok"):
            kind = _ERRORS.get(answer.get("kind", ""), RemoteError)
            raise kind(f"{self.site_name}: {answer.get('error')}")
        return answer["result"]

    def hello(self) -> dict[str, Any]:
        """The login node's hpcflow version, site and work root (asked once)."""
        if self._hello is None:
            self._hello = self.call("hello")
        return self._hello

    # --- submitting ------------------------------------------------------------------------

    def submit_spec(self, name: str, spec: dict[str, Any], reuse: list[Any], launch: Any) -> str:
        """Ship the OP code (the OPs' modules and ``upload_packages``) and the uploaded
        artifacts in one upload, then register the workflow in one call."""
        from hpcflow.engine.work_area import code_roots

        remote_root = self.hello()["work_root"].rstrip("/")
        out: dict[str, bytes] = {}
        python_path = []
        for root in code_roots(spec, launch):
            digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
            target = f"{remote_root}/.hpcflow-code/{uuid.uuid4().hex[:8]}-{digest}"
            files.add_tree(out, root, f"{target}/{root.name}")
            python_path.append(target)
        spec = self._ship_uploads(spec, remote_root, out)
        files.write_files(self.transport, out, remote_root, self.ssh.command_timeout_s)
        answer = self.call("submit", name=name, spec=spec, reuse=reuse, python_path=python_path)
        return str(answer["id"])

    def _ship_uploads(self, value: Any, remote_root: str, out: dict[str, bytes]) -> Any:
        """``{"art": path}`` leaves in the outbox become paths under the remote work root."""
        local = str(self.outbox)
        if isinstance(value, dict):
            if set(value) == {"art"}:
                return {"art": _map_leaves(value["art"], lambda p: self._ship(p, local, remote_root, out))}
            return {k: self._ship_uploads(v, remote_root, out) for k, v in value.items()}
        if isinstance(value, list):
            return [self._ship_uploads(v, remote_root, out) for v in value]
        return value

    def _ship(self, path: str, local: str, remote_root: str, out: dict[str, bytes]) -> str:
        if not path.startswith(local + "/"):
            return path
        remote = remote_root + path[len(local):]
        files.add_tree(out, Path(path), remote)
        return remote

    # --- watching and acting ---------------------------------------------------------------

    def wait(self, wf_id: str, timeout: float | None = None, interval: float | None = None) -> str:
        """Poll the login node until the workflow ends (every 2 s, backing off to 30 s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        sleep = 2.0
        while True:
            status = self.store.workflow_status(wf_id)
            if status in FINAL or (deadline is not None and time.monotonic() >= deadline):
                return status
            pause = min(sleep, max(0.0, deadline - time.monotonic())) if deadline else sleep
            time.sleep(pause)
            sleep = min(interval or 30.0, sleep * 1.5)

    def cancel(self, wf_id: str) -> int:
        return int(self.call("cancel", id=wf_id))

    def retry(self, wf_id: str) -> int:
        return int(self.call("retry", id=wf_id))

    def read_log(self, wf_id: str, attempt_dir: str) -> str | None:
        return cast("str | None", self.call("read_log", id=wf_id, dir=attempt_dir))

    def daemon(self, action: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self.call("daemon", action=action))

    def download(self, value: Any, dest: Path) -> list[str]:
        """Copy an artifact's files from the login node into ``dest`` (list/dict order kept)."""
        leaves: list[str] = []

        def collect(path: str) -> str:
            leaves.append(path)
            return path

        _map_leaves(value, collect)
        found = files.read_trees(self.transport, leaves, self.ssh.command_timeout_s)
        out: list[str] = []
        for leaf in leaves:
            prefix = leaf.rstrip("/")
            parent = prefix.rsplit("/", 1)[0]
            got = {p: c for p, c in found.items() if p == prefix or p.startswith(prefix + "/")}
            if not got:
                raise StorageError(f"download_artifact: {leaf} does not exist on {self.site_name}")
            for path, content in got.items():
                target = Path(dest) / path[len(parent) + 1:]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            out.append(str(Path(dest) / prefix[len(parent) + 1:]))
        return out

    # --- what the local Client offers that has no meaning here -----------------------------

    def start_driving(self, wf_id: str) -> bool:
        return False

    def is_driving(self, wf_id: str) -> bool:
        return False

    def daemon_running(self) -> bool:
        return True  # the login node drives: callers only watch

    def tick_once(self, *args: Any, **kwargs: Any) -> None:
        return None


def _map_leaves(value: Any, fn: Any) -> Any:
    if isinstance(value, list):
        return [_map_leaves(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_leaves(v, fn) for k, v in value.items()}
    if isinstance(value, str):
        return fn(value)
    return value


