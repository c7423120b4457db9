"""The engine's side of early launches (see :mod:`hpcflow.engine.chain`).

Three moments of a tick: before planning, withdrawn attempts are cancelled and closed
(never counted as failures); while planning, a chained unit gets its links (the attempt
of each producer it waits for, its deferred inputs as the producers' attempt
directories, and the producer whose job it joins when fused); while submitting, a
chained job gets the scheduler ids of its producers' jobs (``afterok``), or waits for
them to have one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpcflow.engine import chain, limits
from hpcflow.engine import model as m
from hpcflow.engine.job_env import job_environment
from hpcflow.engine.launch import (
    PlannedAttempt,
    _executor_setup,
    group_requests,
    job_interpreter,
    job_resources,
    runtime_argv,
    task_record,
)
from hpcflow.engine.model import Node, child_path
from hpcflow.engine.run import WorkflowRun, excluded_hosts
from hpcflow.engine.settings import EngineSettings
from hpcflow.errors import HpcflowError
from hpcflow.runtime.fserrors import describe
from hpcflow.runtime.tasklist import TASK_LIST, UNITS_LOG, write_task_list
from hpcflow.scheduler.base import JobRequest, JobState, JobStatus
from hpcflow.states import WITHDRAWN_MESSAGE, AttemptStatus, ErrorKind

if TYPE_CHECKING:
    from hpcflow.engine.observe import Observer
    from hpcflow.engine.state import Attempt

log = logging.getLogger("hpcflow.engine")

#: Above this many producer tasks, whole arrays are named instead (an argv item is bounded).
MAX_LISTED_TASKS = 64


@dataclass
class Links:
    """What a chained unit's attempt waits for and reads."""

    chained_to: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, dict[str, Any]] = field(default_factory=dict)
    fused_with: str | None = None


#: ``plan_links`` answer for a unit whose producers are not launched yet.
WAIT = Links()


# ------------------------------------------------------------------------- withdraw


def withdraw(engine: Observer) -> None:
    """Cancel and close the attempts that ``WorkflowRun.advance`` withdrew (not failures:
    their nodes are planned again)."""
    closing = []
    for run in engine.runs.values():
        for path, (_, number, why) in run.withdrawn.items():
            att = engine.inflight.get((run.id, path, number))
            if att is not None:
                closing.append((att, why))
        run.withdrawn.clear()
    if not closing:
        return
    leaving = {id(att) for att, _ in closing}
    shared = {a.job_id for a in engine.inflight.values() if id(a) not in leaving}
    ids = sorted({att.job_id for att, _ in closing if att.job_id and att.job_id not in shared})
    if ids:
        try:
            engine.scheduler.cancel(ids)
        except HpcflowError as exc:  # Slurm removes a job whose dependency failed anyway
            log.warning("could not cancel %d withdrawn job(s): %s", len(ids), exc)
    for att, why in closing:
        engine._close_attempt(att, AttemptStatus.CANCELLED, ErrorKind.CANCELLED,
                              f"{WITHDRAWN_MESSAGE}: {why}")


def replan_if_dependency_killed(engine: Observer, att: Attempt, status: JobStatus | None) -> bool:
    """A chained job that Slurm removed because a dependency failed (though its producers'
    records say they succeeded: a task of theirs ended non-zero after writing them) never
    ran: its unit is planned again, not failed."""
    run, node = engine._node_of(att)
    if node is None or not node.data.get("chained_to") or status is None \
            or status.state != JobState.CANCELLED or "dependency" not in status.reason.lower():
        return False
    engine._close_attempt(att, AttemptStatus.CANCELLED, ErrorKind.CANCELLED,
                          f"removed by the scheduler ({status.reason}); planned again")
    if node.attempts == att.number and not node.final:
        node.data.pop("chained_to", None)
        run.set_phase(node, m.PENDING, f"re-planned: its job was removed ({status.reason})")
    return True


# ---------------------------------------------------------------------------- plan


def plan_links(engine: Observer, run: WorkflowRun, node: Node,
               planned: Mapping[str, PlannedAttempt]) -> Links | None:
    """None for an ordinary unit; ``WAIT`` while a producer has no attempt; else the links
    (also recorded in ``node.data``). ``planned``: this tick's attempts of ``run`` by path."""
    after = node.data.get("after")
    if not after:
        return None
    container = _container_path(run, node)

    def dir_of(unit: Node) -> Path | None:
        p = planned.get(unit.path)
        if p is not None:
            return p.dir
        att = engine.inflight.get((run.id, unit.path, unit.attempts))
        return att.dir if att is not None else None

    links = Links()
    deferred = node.data.get("deferred") or {}
    names = list(after) + [s["step"] for sec in deferred.values() for s in sec.values()]
    for name in dict.fromkeys(names):
        producer = run.get(child_path(container, name))
        if producer is None:
            return WAIT
        for unit in _units(run, producer):
            if unit.phase == m.SUCCEEDED:
                continue
            if unit.phase != m.RUNNING or dir_of(unit) is None:
                return WAIT
            links.chained_to[unit.path] = unit.attempts
    for section, inputs in deferred.items():
        for input_name, source in inputs.items():
            producer = run.get(child_path(container, source["step"]))
            assert producer is not None  # checked above
            units: list[dict[str, Any]] = []
            index = source.get("index")  # one slice of a fan-out's stacked output
            chosen = _units(run, producer)
            for unit in chosen if index is None else chosen[index:index + 1]:
                if unit.phase == m.SUCCEEDED:
                    value = ((unit.outputs or {}).get(section) or {}).get(source["output"])
                    hashes = run.hashes.for_inputs({input_name: value}) if section == "artifacts" else {}
                    units.append({"value": value, "hashes": hashes} if hashes else {"value": value})
                else:
                    units.append({"dir": str(dir_of(unit))})
            links.deferred.setdefault(section, {})[input_name] = {
                "step": source["step"], "output": source["output"],
                "stack": producer.type == m.FANOUT and index is None, "units": units}
    fuse = node.data.get("fuse")
    if fuse and links.chained_to:
        fused = planned.get(child_path(container, fuse))
        if fused is not None and set(links.chained_to) <= {fused.node.path}:
            links.fused_with = fused.node.path
    if links.chained_to and links.fused_with is None and not run.chaining.jobs:
        return WAIT  # no scheduler dependencies: a producer still runs, wait for it
    node.data["chained_to"] = links.chained_to
    if links.fused_with:
        node.data["fused_with"] = links.fused_with
    else:
        node.data.pop("fused_with", None)
    return links


def _container_path(run: WorkflowRun, node: Node) -> str:
    parent = run.get(node.parent or "")
    if parent is not None and parent.type == m.FANOUT:
        return parent.parent or ""
    return node.parent or ""


def _units(run: WorkflowRun, node: Node) -> list[Node]:
    if node.type == m.FANOUT:
        return [run.nodes[p] for p in run.children.get(node.path, [])]
    return [node]


# ------------------------------------------------------------------------- requests


def build_requests(planned: list[PlannedAttempt], settings: EngineSettings) -> list[tuple[Any, list[PlannedAttempt]]]:
    """``group_requests``, except that fused units run in their producer's job; producers'
    jobs come first, so their ids are known when a dependant is submitted."""
    if not any(p.node.data.get("fused_with") for p in planned):  # no map of 100,000 keys
        requests = group_requests(planned, settings)
        requests.sort(key=lambda r: min(chain.depth(p.node) for p in r[1]))
        return requests
    by_path = {(p.run.id, p.node.path): p for p in planned}
    following: dict[tuple[str, str], PlannedAttempt] = {}
    for p in planned:
        fused = p.node.data.get("fused_with")
        if fused and (p.run.id, fused) in by_path:
            following[(p.run.id, fused)] = p
    members = {id(p) for p in following.values()} | {id(by_path[k]) for k in following}
    sequences = []
    for p in planned:
        fused = p.node.data.get("fused_with")
        if id(p) in members and not (fused and (p.run.id, fused) in by_path):
            seq = [p]
            while (p.run.id, seq[-1].node.path) in following:
                seq.append(following[(p.run.id, seq[-1].node.path)])
            sequences.append(seq)
    rest = [p for p in planned if id(p) not in members]
    requests = group_requests(rest, settings) if rest else []
    for seq in sequences:
        requests.append(_fused_request(seq, settings))
    requests.sort(key=lambda r: min(chain.depth(p.node) for p in r[1]))
    return requests


def _fused_request(seq: list[PlannedAttempt], settings: EngineSettings) -> tuple[Any, list[PlannedAttempt]]:
    """One job running the units of ``seq`` one after another: a task list of one task
    holding them all, run with ``--sequence`` (stops at the first failure)."""
    head = seq[0]
    run, node = head.run, head.node
    tmpl = run.op_template(node)
    step = run.step_spec(node)
    tag = f"hpcflow-{run.id}-{uuid.uuid4().hex[:10]}"
    for p in seq:
        p.tag, p.task_index = tag, 0
    workdir = Path(run.work_dir) / "jobs" / tag
    task_list = workdir / TASK_LIST
    dirs = [p.dir_text for p in seq]
    try:  # one array task whose units are the fused steps, in order
        write_task_list(task_list, [[(p.dir_text, task_record(p.run, p.node, p.number, settings.storage))
                                     for p in seq]], log=str(workdir / UNITS_LOG))
        argv = runtime_argv(settings, tmpl, task_list, 0, 1, job_interpreter(settings, run),
                            run.launch, sequence=True)
    except HpcflowError as exc:
        return exc, seq
    except OSError as exc:  # a full or unwritable work root fails these units only
        return HpcflowError(f"cannot prepare the fused job of {node.path} under {run.work_dir} "
                            f"(its task list {task_list}): {describe(exc, task_list)}"), seq
    exclude = tuple(sorted({h for p in seq for h in excluded_hosts(p.node)}))
    resources = job_resources(settings, tmpl, step, units_per_task=1, exclude=exclude)
    limits_s = [limits.merged_resources(settings, p.run.op_template(p.node), p.run.step_spec(p.node), 1)
                .get("time_limit_s") for p in seq]
    if all(p.run.op_template(p.node).timeout for p in seq) and all(limits_s):
        from dataclasses import replace

        resources = replace(resources, time_limit_s=sum(t or 0 for t in limits_s))
    request = JobRequest(
        tag=tag, name=f"hpcflow.{run.name}.{node.name}+{len(seq) - 1}"[:120], workdir=workdir,
        tasks=(tuple(argv),), env=job_environment(run.launch, settings.user), resources=resources,
        setup_lines=settings.setup_lines + _executor_setup(step), image=tmpl.image,
        units=(tuple(dirs),), pool=1, step=node.name, task_list=task_list,
    )
    return request, seq


# --------------------------------------------------------------------------- submit


def dependencies(engine: Observer, items: list[PlannedAttempt]) -> tuple[str, ...] | None:
    """The job ids a request must wait for (``()``: none), or None while one of them has
    no job id yet (the request is held and submitted on a later tick)."""
    inside = {p.node.path for p in items}
    run = items[0].run
    ids: list[str] = []
    for p in items:
        for path, number in (p.node.data.get("chained_to") or {}).items():
            if path in inside:
                continue
            att = engine.inflight.get((run.id, path, number))
            if att is None:
                producer = run.get(path)
                if producer is not None and producer.phase == m.SUCCEEDED:
                    continue
                return None
            if att.job_id is None:
                return None
            ids.append(att.job_id)
    ids = list(dict.fromkeys(ids))
    return tuple(_collapse(engine, run, ids)) if len(ids) > MAX_LISTED_TASKS else tuple(ids)


def _collapse(engine: Observer, run: WorkflowRun, ids: list[str]) -> list[str]:
    """Name a whole array instead of its tasks when every task of it that is still in
    flight is listed and none of it failed (``afterok`` on an array waits for all)."""
    listed: dict[str, set[str]] = {}
    for job in ids:
        listed.setdefault(job.split("_")[0], set()).add(job)
    flying: dict[str, set[str]] = {}
    for att in engine.inflight.values():
        if att.job_id:
            flying.setdefault(att.job_id.split("_")[0], set()).add(att.job_id)
    failed = {str(a["job_id"]).split("_")[0] for a in engine.store.attempts(
        run.id, status=(AttemptStatus.FAILED, AttemptStatus.CANCELLED)) if a["job_id"]}
    out: list[str] = []
    for base, tasks in listed.items():
        if tasks == flying.get(base) and base not in failed:
            out.append(base)
        else:
            out.extend(sorted(tasks))
    return out
