"""The Kubernetes scheduler: one Indexed Job per job request, behind the same protocol.

Task ids are ``k8s:<job name>:<index>``. Submission stages every unit's task record in
S3 (pods do not see the login node's filesystem), writes the job's task list, and creates
the Job, labelled with this engine's owner label and a hash of the attempt tag (so a
restarted engine finds it: ``adopt``). A poll is one label-selector LIST of Jobs and one
of Pods, whatever the number of workflows and indices; for each index the Job no longer
runs, the exit records the pods published in S3 are copied into the attempt directories,
where the engine reads them as it does on a shared filesystem. A Job that vanished (deleted,
expired, its node lost) is reconciled from those records alone, index by index.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hpcflow.errors import SchedulerError, StorageError
from hpcflow.runtime import records as rec
from hpcflow.runtime import staging
from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, SubmittedJob
from hpcflow.scheduler.kubernetes import manifests as M
from hpcflow.scheduler.kubernetes.api import Gone, KubeApi
from hpcflow.scheduler.kubernetes.library import configmap_name, library_zip
from hpcflow.scheduler.kubernetes.settings import KubeSettings
from hpcflow.scheduler.kubernetes.states import job_of_pod, view_index
from hpcflow.storage.hashing import file_sha256

log = logging.getLogger("hpcflow.kubernetes")
PREFIX = "k8s:"


def task_id(site: str, job: str, index: int) -> str:
    """``k8s:<site>/<job>:<index>``: the site is in the id, so ``show`` can say where it ran."""
    return f"{PREFIX}{site_of_id_safe(site)}/{job}:{index}"


def site_of_id_safe(site: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in site)


def parse_task_id(tid: str) -> tuple[str, int]:
    """(Job name, index) of a task id."""
    if not tid.startswith(PREFIX):
        raise SchedulerError(f"{tid!r} is not a Kubernetes task id")
    rest, _, index = tid[len(PREFIX):].rpartition(":")
    return rest.rsplit("/", 1)[-1], int(index)


@dataclass
class _Job:
    """What a poll needs to know of one Job: the units of each index."""

    units: list[list[dict[str, str]]]


class KubernetesScheduler:
    """Indexed Jobs on one namespace of one cluster; artifacts and records through S3."""

    name = "kubernetes"

    def __init__(self, settings: KubeSettings, owner: str, api: KubeApi | None = None,
                 store: Any = None) -> None:
        self.settings = settings
        self.owner = owner
        self._api = api
        self._store = store
        self._jobs: dict[str, _Job] = {}
        self._lib: str | None = None
        #: resourceVersions of the last LISTs: the next LIST is never older than these.
        self._rv: dict[str, str | None] = {"jobs": None, "pods": None}

    # -- connections (lazy: building the scheduler never touches the network) ---------
    @property
    def api(self) -> KubeApi:
        if self._api is None:
            from hpcflow.scheduler.kubernetes.api import make_api_client

            client = make_api_client(self.settings.kubeconfig, self.settings.context)
            self._api = KubeApi(client, self.settings.namespace)
        return self._api

    @property
    def store(self) -> Any:
        if self._store is None:
            from hpcflow.storage.remote import open_store

            self._store = open_store(self.settings.storage)
        return self._store

    # -- submit -------------------------------------------------------------------------
    def submit(self, job: JobRequest) -> SubmittedJob:
        if not job.image and not self.settings.default_image:
            raise SchedulerError(f"step {job.step or job.name} has no image: on Kubernetes every "
                                 "step runs in a container image (PythonOPTemplate(image=...), "
                                 "or [kubernetes] default_image)")
        if not job.units:
            raise SchedulerError(f"job {job.name} names no unit directories (JobRequest.units)")
        job = replace(job, image=job.image or self.settings.default_image)
        units = job.units
        name = M.job_name(job.tag, job.step or job.name)
        staged = self._stage(name, units, job.pool, _task_records(job))
        body = M.job_manifest(job, self.settings, owner=self.owner, tasks_key=staging.tasks_key(name),
                              lib_configmap=self._library())
        try:
            created = self.api.create_job(body)
        except SchedulerError as exc:
            if getattr(exc, "status", None) != 409:  # 409: this tag's Job exists already
                raise
            created = {}
        self._seen("jobs", (created.get("metadata") or {}).get("resourceVersion"))
        self._jobs[name] = staged
        return SubmittedJob(job.tag, tuple(task_id(self.settings.site_name, name, i) for i in range(len(units))))

    def _library(self) -> str:
        if self._lib is None:
            digest, data = library_zip()
            name = configmap_name(digest)
            self.api.ensure_configmap(M.lib_configmap(name, self.settings.namespace, self.owner, data))
            self._lib = name
        return self._lib

    def _stage(self, name: str, units: Sequence[Sequence[str]], pool: int,
               records: Mapping[str, dict[str, Any]]) -> _Job:
        """Task records (and the pickled OPs they name) into S3, then the task list.

        ``records`` are the units' task records from the job's task list; a unit missing
        there has its ``task.json`` in its directory (attempts prepared before task lists)."""
        files: dict[str, str] = {}
        tasks = [[{"dir": d, "key": self.unit_key(d)} for d in chunk] for chunk in units]
        flat = [u for chunk in tasks for u in chunk]
        for unit in flat:
            task = records.get(unit["dir"]) or rec.read_json(Path(unit["dir"]) / rec.TASK_FILE) or {}
            shipped = (task.get("op") or {}).get("pickle_file")
            if shipped and shipped not in files:
                key = staging.file_key(file_sha256(shipped), Path(shipped).name)
                if self.store.get_bytes(key) is None:
                    self.store.put_bytes(key, Path(shipped).read_bytes(), "application/octet-stream")
                files[shipped] = key

        def put(unit: dict[str, str]) -> None:
            known = records.get(unit["dir"])
            data = (json.dumps(known, ensure_ascii=False).encode() if known is not None
                    else (Path(unit["dir"]) / rec.TASK_FILE).read_bytes())
            self.store.put_bytes(staging.record_key(unit["key"], rec.TASK_FILE), data)

        with ThreadPoolExecutor(8) as pool_:
            list(pool_.map(put, flat))
        staging.write_json(self.store, staging.tasks_key(name),
                           {"version": 1, "pool": pool, "files": files, "tasks": tasks})
        return _Job(tasks)

    def unit_key(self, unit_dir: str) -> str:
        root = os.path.abspath(self.settings.work_root)
        rel = os.path.relpath(os.path.abspath(unit_dir), root)
        if rel.startswith(".."):
            raise SchedulerError(f"{unit_dir} is not below the work root {root}")
        return staging.unit_key(rel.replace(os.sep, "/"))

    # -- poll ---------------------------------------------------------------------------
    def poll(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        """One LIST of Jobs and one of Pods; exit records for the indices that are done."""
        wanted: dict[str, list[tuple[str, int]]] = {}
        for tid in task_ids:
            name, index = parse_task_id(tid)
            wanted.setdefault(name, []).append((tid, index))
        if not wanted:
            return {}
        jobs = {j["metadata"]["name"]: j for j in self._list("jobs")}
        pods: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for pod in self._list("pods"):
            where = job_of_pod(pod)
            if where is not None:
                pods.setdefault(where, []).append(pod)
        now = time.time()
        out: dict[str, JobStatus] = {}
        for name, items in wanted.items():
            job = jobs.get(name)
            for tid, index in items:
                try:
                    out[tid] = self._index_status(name, job, index, pods.get((name, index), []), now)
                except StorageError as exc:  # records unreadable now: still there, not lost
                    log.warning("cannot read the exit records of %s: %s", tid, exc)
                    out[tid] = JobStatus(JobState.RUNNING, reason=f"S3 unreadable: {exc}")
        return out

    def _index_status(self, name: str, job: dict[str, Any] | None, index: int,
                      pods: list[dict[str, Any]], now: float) -> JobStatus:
        if job is None:
            return self._vanished(name, index)
        view = view_index(job, index, pods, now)
        if view.done:
            self._mirror(name, index)
            return view.status
        if view.unschedulable_s > self.settings.unschedulable_timeout_s:
            return self._withdraw(name, index, view.unschedulable_s)
        return view.status

    def _list(self, what: str) -> list[dict[str, Any]]:
        fn = self.api.list_jobs if what == "jobs" else self.api.list_pods
        try:
            answer = fn(M.selector(self.owner), self._rv[what])
        except Gone:  # our resourceVersion was compacted away: a fresh (quorum) read
            self._rv[what] = None
            answer = fn(M.selector(self.owner), None)
        self._rv[what] = (answer.get("metadata") or {}).get("resourceVersion") or self._rv[what]
        return list(answer.get("items") or [])

    def _seen(self, what: str, rv: str | None) -> None:
        """A write's resourceVersion: later LISTs must include it."""
        if not rv:
            return
        old = self._rv[what]
        if old is None or (old.isdigit() and rv.isdigit() and int(rv) > int(old)):
            self._rv[what] = rv

    def _units(self, name: str) -> list[list[dict[str, str]]]:
        job = self._jobs.get(name)
        if job is None:  # adopted, or an engine restarted: the task list is in S3
            data = staging.read_json(self.store, staging.tasks_key(name))
            job = _Job(data["tasks"] if data else [])
            self._jobs[name] = job
        return job.units

    def _mirror(self, name: str, index: int) -> bool:
        """Copy the published records of ``index`` into its attempt directories; True when
        every unit of the index has its exit record."""
        units = self._units(name)
        if index >= len(units):
            return False
        complete = True
        for unit in units[index]:
            local = Path(unit["dir"])
            if (local / rec.EXIT_FILE).exists():
                continue
            exit_data = self.store.get_bytes(staging.record_key(unit["key"], rec.EXIT_FILE))
            if exit_data is None:
                complete = False
                continue
            for extra in (rec.OUTPUTS_FILE, rec.LOG_FILE):
                data = self.store.get_bytes(staging.record_key(unit["key"], extra))
                if data is not None:
                    _write_atomic(local / extra, data)
            _write_atomic(local / rec.EXIT_FILE, exit_data)  # last, as on a shared filesystem
        return complete

    def _vanished(self, name: str, index: int) -> JobStatus:
        if self._mirror(name, index):
            return JobStatus(JobState.COMPLETED, 0, reason="Job gone; exit records in S3")
        return JobStatus(JobState.UNKNOWN, reason=f"the Job {name} was deleted or expired")

    def _withdraw(self, name: str, index: int, waited: float) -> JobStatus:
        """An index no node can take: its units are marked withdrawn (a pod that starts
        later skips them) and reported preempted, so the engine runs them again at home."""
        for unit in self._units(name)[index] if index < len(self._units(name)) else []:
            self.store.put_bytes(staging.record_key(unit["key"], staging.WITHDRAWN), b"{}")
            Path(unit["dir"]).mkdir(parents=True, exist_ok=True)  # the pod never made it
            Path(unit["dir"], staging.WITHDRAWN).write_text(self.settings.site_name)
        return JobStatus(JobState.PREEMPTED, reason=(
            f"unschedulable on {self.settings.site_name} for {waited:.0f} s "
            f"(over unschedulable_timeout_s = {self.settings.unschedulable_timeout_s:g})"))

    # -- cancel, adopt --------------------------------------------------------------------
    def cancel(self, task_ids: Sequence[str]) -> None:
        """Withdraw the units; delete each Job all of whose indices are cancelled."""
        by_job: dict[str, set[int]] = {}
        for tid in task_ids:
            name, index = parse_task_id(tid)
            by_job.setdefault(name, set()).add(index)
        for name, indices in by_job.items():
            units = self._units(name)
            for index in indices:
                for unit in units[index] if index < len(units) else []:
                    self.store.put_bytes(staging.record_key(unit["key"], staging.WITHDRAWN), b"{}")
            if not units or indices >= set(range(len(units))):
                self.api.delete_job(name)

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        """Jobs created under these attempt tags (found by label, confirmed by annotation)."""
        if not tags:
            return {}
        hashes = ",".join(sorted({M.label_hash(t) for t in tags}))
        answer = self.api.list_jobs(f"{M.selector(self.owner)},{M.TAG} in ({hashes})")
        found: dict[str, SubmittedJob] = {}
        wanted = set(tags)
        for job in answer.get("items") or []:
            meta = job.get("metadata") or {}
            tag = (meta.get("annotations") or {}).get(M.TAG_ANNOTATION)
            if tag in wanted:
                count = int((job.get("spec") or {}).get("completions") or 1)
                found[tag] = SubmittedJob(tag, tuple(task_id(self.settings.site_name, meta["name"], i) for i in range(count)))
        return found


def _task_records(job: JobRequest) -> dict[str, dict[str, Any]]:
    """The task records of the job's units, by unit directory, from its task list."""
    if job.task_list is None:
        return {}
    from hpcflow.runtime.tasklist import read_all

    return {d: task for units in read_all(job.task_list)[1] for d, task in units}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # made by the engine's mirror, not a pod
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def owner_label(home: str, user: str) -> str:
    """One engine's label value: its store and user (a hash; labels are short)."""
    return M.label_hash(json.dumps([os.path.abspath(home), user]), 16)
