"""Per-step remote execution: the engine's scheduler and work area, with some steps routed.

The engine keeps one scheduler and one work area. A :class:`RoutingScheduler` and a
:class:`RoutingWorkArea` wrap the site's own (local mode, a login node's Slurm, a burst
pair) and send the jobs whose request names a route (a step executor's ``remote`` table,
see :mod:`hpcflow.engine.routes`) to that route's Slurm cluster over SSH, the way
:class:`~hpcflow.engine.burst.BurstScheduler` sends some jobs to Kubernetes:

- **submit**: the job's attempt directories were staged under the route's remote work root;
  its script is written and ``sbatch``'ed there; its task ids come back as
  ``ssh-<route>:<slurm id>``;
- **poll**: one ``squeue`` (+ ``sacct`` for what left it) per remote *host* per tick, for
  all routes to that host, at most once per ``poll_interval_s``; a host that does not
  answer reports its jobs as still pending (nothing is judged while it is unreachable);
- **cancel** and **adopt**: by task id prefix and by the route suffix of the tag, which was
  committed before the submission, so an engine that restarts asks the right cluster;
- **fetch**: attempt directories carry a local ``.hpcflow-route`` mark (written when the job
  is planned), so finished ones are fetched from their route's work root.

Every route to one host shares one SSH transport (one ControlMaster connection). The
routes ever used are kept in ``$HPCFLOW_HOME/routes/<id>.json`` (host, user, port, key
*file*, roots: never a secret), so task ids found in the store after a restart resolve.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpcflow.engine.routes import Route, read_route_mark, split_task_id, tag_route_id, task_id
from hpcflow.engine.work_area import LocalWorkArea, RemoteWorkArea, WorkArea
from hpcflow.errors import (
    HpcflowError,
    SchedulerError,
    SchedulerUnavailable,
    SubmissionDeferred,
)
from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, Scheduler, SubmittedJob

log = logging.getLogger("hpcflow.routing")


@dataclass
class _Host:
    """One remote host: its SSH transport and what its queue said last."""

    transport: Any
    ssh: Any
    poll_interval_s: float
    polled_at: float = float("-inf")
    last: dict[str, JobStatus] = field(default_factory=dict)


@dataclass
class _Routed:
    route: Route
    host: _Host
    scheduler: Any  # a SlurmScheduler writing under the route's remote root
    area: RouteWorkArea


class RouteTable:
    """The routes this engine uses: their hosts, Slurm clients and work areas, made once."""

    def __init__(self, home: Path, local_root: Path, ssh_hosts: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.home = Path(home)
        self.local_root = Path(local_root)
        self.ssh_hosts = dict(ssh_hosts or {})
        self.registry = self.home / "routes"
        self._clock = clock
        self._hosts: dict[tuple[str, str | None, int | None], _Host] = {}
        self._routed: dict[str, _Routed] = {}

    def for_route(self, route: Route) -> _Routed:
        """The route's clients; recorded on disk first, so its task ids resolve after a restart."""
        found = self._routed.get(route.id)
        if found is not None:
            return found
        self._remember(route)
        return self._make(route)

    def known(self, route_id: str) -> _Routed | None:
        """The route of that id if a job was ever submitted to it from this home."""
        found = self._routed.get(route_id)
        if found is not None:
            return found
        try:
            table = json.loads((self.registry / f"{route_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return self._make(Route.from_table(table))

    def _remember(self, route: Route) -> None:
        path = self.registry / f"{route.id}.json"
        if path.exists():
            return
        from hpcflow.private import make_dirs

        make_dirs(self.registry)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(route.to_table(), sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def _make(self, route: Route) -> _Routed:
        from hpcflow.scheduler.slurm.backend import SlurmScheduler
        from hpcflow.transport import files

        host = self._host(route)
        timeout = host.ssh.command_timeout_s
        area = RouteWorkArea(route, host.transport, self.local_root, timeout)

        def write_files(out: Mapping[Path, str]) -> None:
            files.write_files(host.transport, {str(p): text for p, text in out.items()},
                              route.remote_root, timeout)

        scheduler = SlurmScheduler(host.transport, write_files=write_files, timeout_s=timeout)
        routed = _Routed(route, host, scheduler, area)
        self._routed[route.id] = routed
        return routed

    def _host(self, route: Route) -> _Host:
        found = self._hosts.get(route.host_key)
        if found is not None:
            return found
        from hpcflow.site.models import Ssh
        from hpcflow.transport.ssh import make_transport

        extra = self.ssh_hosts.get(route.host)
        table: dict[str, Any] = extra.model_dump(exclude={"poll_interval_s"}) if extra is not None else {}
        table |= {k: v for k, v in (("host", route.host), ("user", route.user), ("port", route.port),
                                    ("identity_file", route.identity_file),
                                    ("connect_timeout_s", route.connect_timeout_s)) if v is not None}
        ssh = Ssh.model_validate(table | {"engine": "local"})
        transport = make_transport(ssh, f"ssh-{route.host}", self.home)
        # No `hpcflow login` for a route: a plain ssh in the terminal checks key and host key.
        transport.login_hint = " ".join(["ssh", *(["-p", str(ssh.port)] if ssh.port else []),
                                         *(["-i", ssh.identity_file] if ssh.identity_file else []),
                                         ssh.destination()])
        host = _Host(transport, ssh, extra.poll_interval_s if extra is not None else 2.0)
        self._hosts[route.host_key] = host
        return host

    def close(self) -> None:
        for host in self._hosts.values():
            host.transport.close()


class RoutingScheduler:
    """The engine's own scheduler, with the jobs of routed steps sent over SSH."""

    def __init__(self, home: Scheduler, routes: RouteTable) -> None:
        self.home = home
        self.routes = routes
        self.name = home.name

    def __getattr__(self, name: str) -> Any:
        # warm_up, wait_for_change, transport...: what the home scheduler offers.
        return getattr(self.__dict__["home"], name)

    def submit(self, job: JobRequest) -> SubmittedJob:
        if job.route is None:
            return self.home.submit(job)
        routed = self.routes.for_route(Route.from_table(job.route))
        submitted = routed.scheduler.submit(job)
        for tid in submitted.task_ids:  # until the next squeue: just submitted, so pending
            routed.host.last[tid] = JobStatus(JobState.PENDING, reason="submitted")
        log.info("%s: %s sent to %s", job.step or job.name, submitted.task_ids[0],
                 routed.route.describe())
        return SubmittedJob(submitted.tag, tuple(task_id(routed.route.id, t) for t in submitted.task_ids))

    def poll(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        home, remote = _split(task_ids)
        out: dict[str, JobStatus] = dict(self.home.poll(home)) if home else {}
        by_host: dict[int, tuple[_Host, Any, list[tuple[str, str]]]] = {}
        for route_id, slurm_ids in remote.items():
            routed = self.routes.known(route_id)
            if routed is None:  # its record was deleted: nobody can look, so it counts as lost
                gone = JobStatus(JobState.UNKNOWN, reason=f"the record of route ssh-{route_id} is gone")
                out.update({task_id(route_id, s): gone for s in slurm_ids})
                continue
            entry = by_host.setdefault(id(routed.host), (routed.host, routed.scheduler, []))
            entry[2].extend((route_id, s) for s in slurm_ids)
        for host, scheduler, pairs in by_host.values():
            answer = self._poll_host(host, scheduler, [s for _, s in pairs])
            for route_id, slurm_id in pairs:
                out[task_id(route_id, slurm_id)] = answer[slurm_id]
        return out

    def describe(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        """Full statuses of lost jobs (accounting included), each from its own cluster."""
        home, remote = _split(task_ids)
        out: dict[str, JobStatus] = {}
        if home:
            out.update(getattr(self.home, "describe", self.home.poll)(home))
        for route_id, slurm_ids in remote.items():
            routed = self.routes.known(route_id)
            if routed is None:
                continue
            try:
                answer = getattr(routed.scheduler, "describe", routed.scheduler.poll)(slurm_ids)
            except SchedulerUnavailable:
                continue  # the poll's own status stands
            out.update({task_id(route_id, s): answer[s] for s in slurm_ids if s in answer})
        return out

    def _poll_host(self, host: _Host, scheduler: Any, slurm_ids: list[str]) -> dict[str, JobStatus]:
        """One squeue for every job on the host, at most every ``poll_interval_s``; the host
        unreachable: every job pending (never judged lost while nobody can look)."""
        now = self.routes._clock()
        fresh = now - host.polled_at >= host.poll_interval_s
        if fresh:
            try:
                host.last = dict(scheduler.poll(slurm_ids))
                host.polled_at = now
            except SchedulerUnavailable as exc:
                log.warning("%s does not answer; its jobs wait: %s", host.ssh.destination(), exc)
                waiting = JobStatus(JobState.PENDING, reason=f"{host.ssh.destination()} does not answer")
                return {s: waiting for s in slurm_ids}
        pending = JobStatus(JobState.PENDING, reason="not polled yet")
        return {s: host.last.get(s, pending) for s in slurm_ids}

    def cancel(self, task_ids: Sequence[str]) -> None:
        home, remote = _split(task_ids)
        if home:
            self.home.cancel(home)
        by_host: dict[int, tuple[Any, list[str]]] = {}
        for route_id, slurm_ids in remote.items():
            routed = self.routes.known(route_id)
            if routed is None:
                log.warning("cannot cancel %s: the record of route ssh-%s is gone",
                            ", ".join(slurm_ids), route_id)
                continue
            by_host.setdefault(id(routed.host), (routed.scheduler, []))[1].extend(slurm_ids)
        for scheduler, ids in by_host.values():  # one scancel per host
            scheduler.cancel(ids)

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        """Home tags from the home scheduler; routed tags (``...ssh-<route>``) from one
        ``squeue`` + ``sacct`` per remote host."""
        home = [t for t in tags if tag_route_id(t) is None]
        found = dict(self.home.adopt(home)) if home else {}
        by_host: dict[int, tuple[Any, dict[str, str]]] = {}
        for tag in tags:
            route_id = tag_route_id(tag)
            routed = self.routes.known(route_id) if route_id is not None else None
            if route_id is None or routed is None:
                continue  # a route never used here: nothing was submitted under the tag
            by_host.setdefault(id(routed.host), (routed.scheduler, {}))[1][tag] = route_id
        for scheduler, wanted in by_host.values():
            for tag, job in scheduler.adopt(list(wanted)).items():
                found[tag] = SubmittedJob(tag, tuple(task_id(wanted[tag], t) for t in job.task_ids))
        return found


def _split(task_ids: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    home: list[str] = []
    remote: dict[str, list[str]] = {}
    for value in task_ids:
        route_id, slurm_id = split_task_id(value)
        if route_id is None:
            home.append(value)
        else:
            remote.setdefault(route_id, []).append(slurm_id)
    return home, remote


class RouteWorkArea(RemoteWorkArea):
    """A route's remote work root: the engine's own work root, re-rooted on the cluster.

    Unlike a remote-steps site, the engine's other steps run here: an input artifact made
    by a local step (or uploaded here) is shipped; one made by an earlier step of the same
    route is already there.
    """

    def __init__(self, route: Route, transport: Any, local_root: Path, timeout_s: float) -> None:
        super().__init__(transport, local_root, route.remote_root, timeout_s)
        self.route = route
        self.staged_mark = f".hpcflow-staged-{route.id}"

    def _add_input(self, out: dict[str, bytes], path: Path) -> list[Path]:
        try:
            rel = path.resolve().relative_to(self.local_root.resolve())
        except ValueError:
            return []  # outside the work root: a path the cluster has by itself
        if rel.parts[:1] == ("uploads",):
            return super()._add_input(out, path)
        attempt = _attempt_dir(path)
        if attempt is not None and read_route_mark(attempt) == self.route:
            return []  # made on this cluster
        if path.exists():
            from hpcflow.transport import files

            files.add_tree(out, path, self.to_remote(str(path)))
        return []

    def job_request(self, request: JobRequest, code: Sequence[Path] = ()) -> JobRequest:
        """Paths re-rooted, and the route's Python runs the runtime."""
        remote = super().job_request(request, code)
        tasks = []
        for argv in remote.tasks:
            if tuple(argv[1:3]) != ("-m", "hpcflow.runtime"):
                raise SchedulerError(f"step {request.step}: a step sent to "
                                     f"{self.route.describe()} cannot run in a container "
                                     "(remote routes run the cluster's Python; drop image=)")
            tasks.append((self.route.python, *argv[1:]))
        return replace(remote, tasks=tuple(tasks))


def _attempt_dir(path: Path) -> Path | None:
    """The attempt directory holding ``path`` (a routed one has its route mark here)."""
    for parent in [path, *path.parents]:
        if parent.name.startswith("attempt-"):
            return parent
    return None


class RoutingWorkArea:
    """The engine's own work area, with routed attempts staged to and fetched from their
    route's remote work root."""

    def __init__(self, home: WorkArea | None, routes: RouteTable) -> None:
        self.home: WorkArea = home if home is not None else LocalWorkArea()
        self.routes = routes
        #: Routes whose staging failed this tick: their jobs are deferred, not submitted.
        self._unstaged: dict[str, str] = {}

    def stage(self, unit_dirs: Sequence[Path], code: Sequence[Path] = ()) -> None:
        self._unstaged.clear()
        for route, units in _by_route(unit_dirs).items():
            if route is None:
                self.home.stage(units, code)
                continue
            try:
                self.routes.for_route(route).area.stage(units, code)
            except HpcflowError as exc:
                if not exc.transient:
                    raise
                log.warning("cannot stage %d attempt(s) to %s, will retry: %s", len(units),
                            route.describe(), exc)
                self._unstaged[route.id] = str(exc)

    def job_request(self, request: JobRequest, code: Sequence[Path] = ()) -> JobRequest:
        if request.route is None:
            return self.home.job_request(request, code)
        route = Route.from_table(request.route)
        if route.id in self._unstaged:  # kept "submitting"; staged and submitted next tick
            raise SubmissionDeferred(f"{route.describe()} not reachable: {self._unstaged[route.id]}")
        return self.routes.for_route(route).area.job_request(request, code)

    def reads_in_place(self, unit_dir: Path) -> bool:
        return read_route_mark(Path(unit_dir)) is None and self.home.reads_in_place(unit_dir)

    def fetch(self, unit_dirs: Sequence[Path]) -> None:
        """Home directories from the home area, routed ones from their route (one download
        per route); a route that cannot be reached is raised after the others are done."""
        failure: HpcflowError | None = None
        for route, units in _by_route(unit_dirs).items():
            try:
                if route is None:
                    self.home.fetch(units)
                else:
                    self.routes.for_route(route).area.fetch(units)
            except HpcflowError as exc:
                if not exc.transient:
                    raise
                failure = failure or exc
        if failure is not None:
            raise failure


def _by_route(unit_dirs: Sequence[Path]) -> dict[Route | None, list[Path]]:
    out: dict[Route | None, list[Path]] = {}
    for unit in unit_dirs:
        out.setdefault(read_route_mark(Path(unit)), []).append(Path(unit))
    return out
