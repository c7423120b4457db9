"""Remote routes: the steps whose executor sends them to a Slurm cluster over SSH.

A step's executor may carry a ``remote`` table (Dflow's ``DispatcherExecutor`` with
``SSHContext`` writes one): the host, user, port and key *file* to reach the cluster, the
work root there and its Python. That table is the step's *route*. Everything here is pure
data, so the rules are tested without a cluster:

- a route's id is a digest of its table, so the same settings always name the same route;
- a job's tag ends with ``.ssh-<id>`` (committed before submission, so an engine that
  restarts knows where to look the job up), and its task ids are ``ssh-<id>:<slurm id>``
  (so polls and cancels find their cluster without asking the store);
- no secret is ever part of a route: keys stay in files the SSH client reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcflow.errors import ConfigError
from hpcflow.runtime.tasklist import TASK_LIST

#: What a route holds (and nothing else: an unknown key is an error, never ignored).
ROUTE_KEYS = ("host", "user", "port", "identity_file", "connect_timeout_s", "remote_root",
              "python", "batch")
_ID = re.compile(r"ssh-([0-9a-f]{10})")
_TAG = re.compile(r"\.ssh-([0-9a-f]{10})$")


@dataclass(frozen=True)
class Route:
    """Where a step's jobs run when its executor says: a Slurm cluster over SSH."""

    host: str
    remote_root: str
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    connect_timeout_s: float | None = None
    python: str = "python3"
    batch: str = "slurm"

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Route:
        unknown = sorted(set(table) - set(ROUTE_KEYS))
        if unknown:
            raise ConfigError(f"executor remote: unsupported keys: {', '.join(unknown)}")
        if not table.get("host") or not table.get("remote_root"):
            raise ConfigError("executor remote: needs host and remote_root")
        if str(table.get("batch", "slurm")).lower() != "slurm":
            raise ConfigError(f"executor remote: batch {table['batch']!r} is not supported "
                              "(hpcflow's batch backend is Slurm)")
        port = table.get("port")
        timeout = table.get("connect_timeout_s")
        return cls(host=str(table["host"]), remote_root=str(table["remote_root"]),
                   user=str(table["user"]) if table.get("user") else None,
                   port=int(port) if port else None,
                   identity_file=str(table["identity_file"]) if table.get("identity_file") else None,
                   connect_timeout_s=float(timeout) if timeout else None,
                   python=str(table.get("python") or "python3"))

    def to_table(self) -> dict[str, Any]:
        out = {"host": self.host, "user": self.user, "port": self.port,
               "identity_file": self.identity_file, "connect_timeout_s": self.connect_timeout_s,
               "remote_root": self.remote_root, "python": self.python, "batch": self.batch}
        return {k: v for k, v in out.items() if v is not None}

    @property
    def id(self) -> str:
        text = json.dumps(self.to_table(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def host_key(self) -> tuple[str, str | None, int | None]:
        """Routes with the same key share one SSH connection and one ``squeue`` per tick."""
        return (self.host, self.user, self.port)

    def describe(self) -> str:
        who = f"{self.user}@{self.host}" if self.user else self.host
        return f"{who}{f':{self.port}' if self.port else ''}:{self.remote_root}"


def step_route(executor: Mapping[str, Any] | None) -> Route | None:
    """The route a step's executor names, or ``None`` (the engine's own scheduler)."""
    table = (executor or {}).get("remote")
    return Route.from_table(table) if table else None


def route_from_ssh_context(site: Mapping[str, Any], python: str = "python3") -> dict[str, Any]:
    """The ``remote`` table of an executor, from :func:`hpcflow.site.ssh_context.ssh_context_settings`'s site."""
    ssh = site["ssh"]
    table = {"host": ssh["host"], "user": ssh.get("user"), "port": ssh.get("port"),
             "identity_file": ssh.get("identity_file"),
             "connect_timeout_s": ssh.get("connect_timeout_s"), "remote_root": site["work_root"],
             "python": python}
    return Route.from_table({k: v for k, v in table.items() if v is not None}).to_table()


# --- tags and task ids --------------------------------------------------------------------

def route_tag(tag: str, route: Route | None) -> str:
    """The job tag with its route, so adoption after a restart asks the right cluster."""
    return f"{tag}.ssh-{route.id}" if route is not None else tag


def tag_route_id(tag: str) -> str | None:
    found = _TAG.search(tag)
    return found.group(1) if found else None


def task_id(route_id: str, slurm_id: str) -> str:
    return f"ssh-{route_id}:{slurm_id}"


def split_task_id(value: str) -> tuple[str | None, str]:
    """``ssh-<route>:<slurm id>`` -> (route id, slurm id); a home id -> (None, id)."""
    head, sep, rest = value.partition(":")
    found = _ID.fullmatch(head) if sep else None
    return (found.group(1), rest) if found else (None, value)


# --- the mark on an attempt directory -------------------------------------------------------

#: In a (local) attempt directory: the id of the route its job runs on.
ROUTE_MARK = ".hpcflow-route"


def write_route_marks(unit_dirs: Sequence[Path], route: Route | None) -> None:
    """Mark attempt directories (and the job's ``jobs/<tag>`` directory, which holds its task
    list) with their route (its whole table) when their job is planned; read when they are
    staged and fetched, also by an engine that restarted. Only routed jobs make attempt
    directories before they run: the home scheduler's units make their own."""
    for unit in unit_dirs:
        mark = Path(unit) / ROUTE_MARK
        if route is not None:
            mark.parent.mkdir(parents=True, exist_ok=True)  # attempt dirs: made here first
            mark.write_text(json.dumps(route.to_table(), sort_keys=True), encoding="utf-8")
        elif mark.exists():
            mark.unlink()


def read_route_mark(unit_dir: Path) -> Route | None:
    """The route of an attempt directory, or of a job's task list (its directory holds the
    mark); ``None``: the engine's own scheduler runs it."""
    if Path(unit_dir).name == TASK_LIST:
        unit_dir = Path(unit_dir).parent
    try:
        text = (Path(unit_dir) / ROUTE_MARK).read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        return Route.from_table(json.loads(text))
    except (ValueError, ConfigError):
        raise ConfigError(f"{Path(unit_dir) / ROUTE_MARK}: damaged route mark") from None
