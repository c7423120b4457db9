"""Turn units that need an attempt into task records, one task list per job, and job requests."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcflow import frozen
from hpcflow.engine import limits
from hpcflow.engine.job_env import LaunchRecord, job_environment
from hpcflow.engine.model import Node
from hpcflow.engine.routes import route_tag, step_route, write_route_marks
from hpcflow.engine.run import WorkflowRun, excluded_hosts
from hpcflow.engine.settings import EngineSettings
from hpcflow.errors import HpcflowError
from hpcflow.runtime.fserrors import describe
from hpcflow.runtime.tasklist import TASK_LIST, UNITS_LOG, write_task_list
from hpcflow.scheduler.base import IndexedTasks, JobRequest, MadeWhenRead, Resources
from hpcflow.spec.model import OPTemplateSpec, StepSpec, TaskRecord

_UNSAFE = re.compile(r"[^A-Za-z0-9._()-]+")
#: ``node.data`` key of a chained unit's deferred inputs (its producers' attempt dirs).
DEFERRED_KEY = "deferred_inputs"


@dataclass(slots=True)
class PlannedAttempt:
    run: WorkflowRun
    node: Node
    number: int
    #: The unit directory, as text (see :class:`~hpcflow.engine.state.Attempt`).
    dir_text: str
    tag: str = ""
    task_index: int = 0

    @property
    def dir(self) -> Path:
        return Path(self.dir_text)


def safe_path(node_path: str) -> str:
    """A node path as a relative directory (``loop/iter(3)/train``), safe on any filesystem."""
    parts = [(_UNSAFE.sub("_", p) or "_") for p in node_path.split("/")] if node_path else ["_root"]
    return os.path.join(*parts)


def unit_dir_of(run: WorkflowRun, node: Node, number: int) -> str:
    return attempt_dir(run.work_dir, node.path, number)


def attempt_dir(work_dir: str, node_path: str, number: int) -> str:
    """Where attempt ``number`` of the unit at ``node_path`` runs."""
    return os.path.join(work_dir, safe_path(node_path), f"attempt-{number}")


def prepare_attempt(run: WorkflowRun, node: Node, storage: dict[str, Any] | None = None,
                    deferred: Mapping[str, Any] | None = None) -> PlannedAttempt:
    """Number the attempt; nothing is written for the unit itself (its directory is created
    by the runtime when it starts; its task record goes into the job's task list, built
    there one unit at a time, :func:`group_requests`). A ``__main__`` OP's pickle is
    shipped here, once per template. ``deferred``: inputs the runtime reads from producers
    still running (chain_jobs), kept on the planned attempt for its task record."""
    number = node.attempts + 1
    _task_template(run, node)  # the template's JSON and shipped OP, once per fan-out
    if deferred:  # in the node's data: a resubmission rebuilds the same task record
        node.data[DEFERRED_KEY] = dict(deferred)
    else:
        node.data.pop(DEFERRED_KEY, None)
    node.attempts = number
    return PlannedAttempt(run, node, number, unit_dir_of(run, node, number))


def task_record(run: WorkflowRun, node: Node, number: int,
                storage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the unit's job reads (``TaskRecord`` JSON): its template and resolved inputs."""
    tmpl, template_json, op = _task_template(run, node)
    inputs = node.inputs or {}  # read once: a slice's are derived on each read
    artifacts = inputs.get("artifacts", {})
    s3 = storage is not None and storage.get("kind") == "s3"
    return TaskRecord(
        workflow=run.id, step=node.path or run.name, template=tmpl,
        parameters=inputs.get("parameters", {}), artifacts=artifacts,
        slice_index=node.slice_index,
        op=op,
        input_hashes=run.hashes.for_inputs(artifacts),  # the runtime checks them before the OP
        storage=dict(storage) if s3 and storage is not None else None,  # no secrets in it
        artifact_prefix=f"{run.id}/{safe_path(node.path)}/attempt-{number}" if s3 else None,
        deferred=dict(node.data.get(DEFERRED_KEY) or {}),
    ).to_json(template_json=template_json)


#: The task template of (OP template, step) pairs seen last: the slices of a fan-out share
#: one, and its JSON is most of a task record (built once, not 100,000 times; never mutated).
_TEMPLATES: dict[tuple[int, int], tuple[Any, Any, OPTemplateSpec, dict[str, Any], Any]] = {}


def _task_template(run: WorkflowRun, node: Node) -> tuple[OPTemplateSpec, dict[str, Any], Any]:
    """The unit's template with the step's executor environment merged in, its JSON, and
    the OP reference (a ``__main__`` OP's pickle shipped once)."""
    tmpl = run.op_template(node)
    step = run.step_spec(node)
    key = (id(tmpl), id(step))
    hit = _TEMPLATES.get(key)
    if hit is not None and hit[0] is tmpl and hit[1] is step:  # the same objects, still alive
        return hit[2], hit[3], hit[4]
    merged = tmpl
    executor_envs = ((step.executor if step is not None else None) or {}).get("envs")
    if executor_envs:  # the step's executor sets environment variables too
        merged = frozen.replace(tmpl, envs={**tmpl.envs, **executor_envs})
    template_json = TaskRecord.template_json(merged)
    op = _op_file_ref(run, node.template or "", merged.op) if merged.op is not None else None
    if len(_TEMPLATES) > 64:
        _TEMPLATES.clear()
    _TEMPLATES[key] = (tmpl, step, merged, template_json, op)
    return merged, template_json, op


def _op_file_ref(run: WorkflowRun, template: str, ref: Mapping[str, Any]) -> dict[str, Any]:
    """Ship a pickled OP once per workflow and template, not once per slice."""
    if "pickle" not in ref:
        return dict(ref)
    path = Path(run.work_dir) / "ops" / f"{_UNSAFE.sub('_', template)}.pkl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(base64.b64decode(ref["pickle"]))
        os.replace(tmp, path)
    return {k: v for k, v in ref.items() if k != "pickle"} | {"pickle_file": str(path)}


def group_requests(planned: list[PlannedAttempt], settings: EngineSettings) -> list[tuple[JobRequest | HpcflowError, list[PlannedAttempt]]]:
    """Pack attempts into job requests: one array per fan-out, ``group_size`` units per task.

    A group whose job cannot be built (a missing container image, say) comes back as the
    error instead of a request, so its units fail with that message and the rest go on.
    """
    buckets: dict[tuple[str, str, tuple[str, ...], str], list[PlannedAttempt]] = {}
    for p in planned:
        group_key = p.node.parent if p.node.slice_index is not None else p.node.path
        exclude = tuple(excluded_hosts(p.node))  # retries avoid nodes that failed them twice
        step_of = p.run.step_spec(p.node)  # routing: units of different routes never share a job
        route_key = json.dumps(((step_of.executor if step_of is not None else None) or {}).get("remote"),
                               sort_keys=True, default=str)
        buckets.setdefault((p.run.id, group_key or "", exclude, route_key), []).append(p)
    requests: list[tuple[JobRequest | HpcflowError, list[PlannedAttempt]]] = []
    for (_, _, exclude, _), items in buckets.items():
        items.sort(key=lambda p: (p.node.slice_index or 0))
        run, node = items[0].run, items[0].node
        tmpl = run.op_template(node)
        step = run.step_spec(node)
        slices = step.slices if step is not None else None
        size = (slices.group_size if slices else None) or 1
        pool = (slices.pool_size if slices else None) or 1
        chunks = _Chunks(items, size)
        # routing: a step whose executor names a remote route; its tag says which
        route = step_route(step.executor if step is not None else None)
        tag = route_tag(f"hpcflow-{run.id}-{uuid.uuid4().hex[:10]}", route)
        workdir = Path(run.work_dir) / "jobs" / tag
        task_list = workdir / TASK_LIST
        try:
            # Records are made one unit at a time as the list is written: 100,000 of them
            # never sit in memory together.
            write_task_list(task_list, ([(p.dir_text, task_record(p.run, p.node, p.number, settings.storage))
                                         for p in chunk] for chunk in chunks), log=str(workdir / UNITS_LOG))
            if route is not None:  # routing: the job's dir and its attempts say their route
                write_route_marks([workdir, *(p.dir for p in items)], route)
            first = runtime_argv(settings, tmpl, task_list, 0, pool, job_interpreter(settings, run),
                                 run.launch)
            for index, chunk in enumerate(chunks):
                for p in chunk:
                    p.tag, p.task_index = tag, index
            if first[-1] == "0":  # the index is the last item: no container wrapping per task
                tasks: Sequence[tuple[str, ...]] = IndexedTasks(tuple(first[:-1]), len(chunks))
            else:
                tasks = tuple(tuple(runtime_argv(settings, tmpl, task_list, index, pool,
                                                 job_interpreter(settings, run), run.launch))
                              for index in range(len(chunks)))
        except HpcflowError as exc:
            requests.append((exc, items))
            continue
        except OSError as exc:  # a full or unwritable work root fails these units only
            numbers = ", ".join(sorted({str(p.number) for p in items}))
            requests.append((HpcflowError(f"cannot prepare attempt {numbers} under {run.work_dir} "
                                          f"(its task list {task_list}): {describe(exc, task_list)}"),
                             items))
            continue
        request = JobRequest(
            tag=tag,
            name=f"hpcflow.{run.name}.{_UNSAFE.sub('_', node.name.split('(')[0])}"[:120],
            workdir=workdir,
            tasks=tasks,
            env=job_environment(run.launch, settings.user),
            resources=job_resources(settings, tmpl, step, units_per_task=limits.units_per_task(step),
                                    exclude=exclude),
            parallelism=step.parallelism if step is not None else None,
            # routing: the site's own setup lines are for its own nodes, not a routed cluster's
            setup_lines=(settings.setup_lines if route is None else ()) + _executor_setup(step),
            image=tmpl.image,
            units=_UnitDirs(chunks),
            pool=pool,
            step=node.name.split("(")[0],
            route=route.to_table() if route is not None else None,  # routing
            task_list=task_list,
        )
        requests.append((request, items))
    return requests


class _Chunks(MadeWhenRead[list[PlannedAttempt]]):
    """The planned attempts of each array task (``size`` per task), cut when read: a
    100,000-task array would otherwise hold 100,000 lists of one until it is submitted."""

    def __init__(self, items: list[PlannedAttempt], size: int) -> None:
        self.items, self.size = items, size

    def __len__(self) -> int:
        return -(-len(self.items) // self.size)

    def _make(self, index: int) -> list[PlannedAttempt]:
        return self.items[index * self.size:(index + 1) * self.size]


class _UnitDirs(MadeWhenRead[tuple[str, ...]]):
    """``JobRequest.units`` of an array: each task's unit directories, made when read."""

    def __init__(self, chunks: _Chunks) -> None:
        self.chunks = chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def _make(self, index: int) -> tuple[str, ...]:
        return tuple(p.dir_text for p in self.chunks[index])


def runtime_argv(settings: EngineSettings, tmpl: OPTemplateSpec, task_list: Path, index: int,
                 pool: int, interpreter: str, launch: LaunchRecord | None = None,
                 *, sequence: bool = False) -> list[str]:
    """``python -m hpcflow.runtime --tasks LIST --index N`` (the units of array task N),
    wrapped in the step's container if any (where the launch record's import roots are
    bound so the image's Python finds the user's modules). Every task of an array differs
    only in the last item, so a backend can keep one argv for the whole array.
    ``sequence``: the task's units are fused steps, run in order, stopping at a failure."""
    argv = [interpreter, "-m", "hpcflow.runtime"]
    if sequence:
        argv.append("--sequence")
    elif pool > 1:
        argv += ["--pool", str(pool)]
    argv += ["--tasks", str(task_list), "--index", str(index)]
    if tmpl.image and settings.containers.runtime != "none":
        from hpcflow.engine.containerize import wrap_in_container

        return wrap_in_container(settings, tmpl, argv, launch)
    return argv


def _executor_setup(step: StepSpec | None) -> tuple[str, ...]:
    """Shell lines a step's executor runs before its jobs (DispatcherExecutor's source_list)."""
    executor = (step.executor if step is not None else None) or {}
    return tuple(executor.get("setup") or ())


def job_interpreter(settings: EngineSettings, run: WorkflowRun) -> str:
    """The site's ``python`` if it names one, else the interpreter that submitted the workflow."""
    if settings.python:
        return settings.python
    if run.launch is not None and run.launch.interpreter:
        return run.launch.interpreter
    return sys.executable


def job_resources(settings: EngineSettings, tmpl: OPTemplateSpec, step: StepSpec | None, units_per_task: int,
                  exclude: tuple[str, ...] = ()) -> Resources:
    merged = limits.merged_resources(settings, tmpl, step, units_per_task)  # as checked at submit
    return Resources(
        cpus=merged.get("cpus"),
        memory_mb=merged.get("memory_mb"),
        gpus=merged.get("gpus"),
        time_limit_s=merged.get("time_limit_s"),
        partition=merged.get("partition"),
        account=merged.get("account"),
        qos=merged.get("qos"),
        constraint=merged.get("constraint"),
        exclude_nodes=tuple(sorted(set(merged.get("exclude_nodes", ())) | set(exclude))),
        extra_options=tuple(merged.get("extra_options", ())),
    )
