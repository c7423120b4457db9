"""The tick: observe attempts, advance workflows, launch what is ready, record it all.

One ``Engine.tick()`` is a bounded pass over active work only. It is what the daemon loops
over, what ``hpcflow tick`` runs once from cron, and what ``wf.wait()`` drives in local
mode. Submission is idempotent: an attempt is recorded (with its tag) before the scheduler
sees it, and attempts found in the store without a job id are adopted or resubmitted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcflow.engine import model as m
from hpcflow.engine.cache_hook import CacheHook
from hpcflow.engine.launch import PlannedAttempt, group_requests, prepare_attempt
from hpcflow.engine.model import Node
from hpcflow.engine.outcomes import outcome_from_exit, outcome_from_scheduler
from hpcflow.engine.run import WorkflowRun
from hpcflow.engine.settings import EngineSettings
from hpcflow.engine.work_area import LocalWorkArea, WorkArea, code_roots
from hpcflow.errors import CorruptRecord, HpcflowError, SchedulerUnavailable, SubmissionDeferred
from hpcflow.runtime import records as rec
from hpcflow.runtime.fserrors import describe
from hpcflow.scheduler.base import JobState, JobStatus, Scheduler
from hpcflow.states import ACTIVE_ATTEMPTS, AttemptStatus, ErrorKind, WorkflowStatus
from hpcflow.store.db import Store

log = logging.getLogger("hpcflow.engine")

ACTIVE_ATTEMPT = ACTIVE_ATTEMPTS
SUBMITTING, SUBMITTED = AttemptStatus.SUBMITTING, AttemptStatus.SUBMITTED


@dataclass
class Attempt:
    """An attempt the engine is watching."""

    workflow_id: str
    node_path: str
    number: int
    dir: Path
    tag: str
    status: AttemptStatus
    job_id: str | None = None
    task_index: int = 0


@dataclass
class TickReport:
    active_workflows: int = 0
    launched: int = 0
    finished_units: int = 0
    inflight: int = 0
    polled: int = 0
    scheduler_unavailable: bool = False
    finished_workflows: list[str] = field(default_factory=list)


class Engine:
    """Drives every active workflow of one store through one scheduler."""

    def __init__(self, store: Store, scheduler: Scheduler, settings: EngineSettings,
                 only: set[str] | None = None, site_name: str | None = None,
                 work_area: WorkArea | None = None) -> None:
        self.store = store
        #: Where the jobs see their attempt directories (here, or a cluster over SSH).
        self.work_area: WorkArea = work_area if work_area is not None else LocalWorkArea()
        #: Workflows submitted for another site are left to an engine of that site.
        self.site_name = site_name
        self._foreign: set[str] = set()
        self.scheduler = scheduler
        self.settings = settings
        self.only = only
        self.runs: dict[str, WorkflowRun] = {}
        self.inflight: dict[tuple[str, str, int], Attempt] = {}
        self._gone_since: dict[tuple[str, str, int], float] = {}
        self._attempt_updates: list[tuple[Attempt, dict[str, Any]]] = []
        self._pending_groups: list[Any] = []
        #: Tags a site limit refused outright: no job can exist under them, no lookup needed.
        self._never_sent: set[str] = set()
        self.cache = CacheHook(store, settings.cache_default)

    # --------------------------------------------------------------------------- tick

    def tick(self) -> TickReport:
        try:
            return self._tick()
        except BaseException:
            # Half a tick may have changed memory but not the store: forget it all, so the
            # next tick starts again from what was committed.
            self.runs.clear()
            self.inflight.clear()
            self._attempt_updates.clear()
            self._pending_groups = []
            raise

    def _tick(self) -> TickReport:
        report = TickReport()
        self._sync_runs()
        report.active_workflows = len(self.runs)
        self._observe(report)
        for wf_id, run in list(self.runs.items()):
            try:
                run.advance()
            except Exception as exc:  # a bug or bad value in one workflow must not stop the others
                log.exception("workflow %s cannot advance", wf_id)
                self._fail_workflow(run, f"the engine could not advance this workflow: "
                                         f"{type(exc).__name__}: {exc}")
        planned = self._plan()
        report.launched = len(planned)
        self._commit(planned)
        self._submit(planned)
        report.finished_workflows = self._finish_workflows()
        report.inflight = len(self.inflight)
        return report

    def _fail_workflow(self, run: WorkflowRun, message: str) -> None:
        """Mark every unfinished node failed (jobs in flight are cancelled)."""
        atts = [a for a in self.inflight.values() if a.workflow_id == run.id]
        ids = sorted({a.job_id for a in atts if a.job_id})
        if ids:
            try:
                self.scheduler.cancel(ids)
            except HpcflowError:
                log.warning("could not cancel the jobs of %s", run.id)
        for att in atts:
            self._close_attempt(att, AttemptStatus.CANCELLED, ErrorKind.CANCELLED, message)
        run.launches.clear()
        for node in run.nodes.values():
            if not node.final:
                run.set_phase(node, m.FAILED, message)

    # -------------------------------------------------------------------- run loading

    def _sync_runs(self) -> None:
        revisions = self.store.active_revisions()
        if self.only is not None:
            revisions = {k: v for k, v in revisions.items() if k in self.only}
        for wf_id in list(self.runs):
            if wf_id not in revisions:
                self._drop_run(wf_id)
        for wf_id, revision in revisions.items():
            if wf_id in self._foreign:
                continue
            run = self.runs.get(wf_id)
            if run is None or run.revision != revision:
                self._load_run(wf_id)

    def _load_run(self, wf_id: str) -> None:
        self._drop_run(wf_id)
        row = self.store.get_workflow(wf_id)
        site = (row.get("site") or {}).get("name")
        if self.site_name is not None and site is not None and site != self.site_name:
            log.warning("workflow %s was submitted for site %s; this engine drives site %s "
                        "(use hpcflow --site ... daemon/tick)", wf_id, site, self.site_name)
            self._foreign.add(wf_id)
            return
        nodes = [Node.from_row(r) for r in self.store.load_nodes(wf_id)]
        run = WorkflowRun(row, nodes)
        self.runs[wf_id] = run
        for a in self.store.attempts(wf_id, status=ACTIVE_ATTEMPT):
            att = Attempt(wf_id, a["node_path"], a["number"], Path(a["dir"]), a["tag"],
                          AttemptStatus(a["status"]), a["job_id"], a["task_index"])
            self.inflight[(wf_id, att.node_path, att.number)] = att

    def _drop_run(self, wf_id: str) -> None:
        self.runs.pop(wf_id, None)
        for key in [k for k in self.inflight if k[0] == wf_id]:
            del self.inflight[key]

    # ------------------------------------------------------------------------ observe

    def _observe(self, report: TickReport) -> None:
        """Ask the scheduler once about every job in flight, then read the exit records of
        the jobs it no longer reports as pending or running (the records are the truth)."""
        submitted = [a for a in self.inflight.values() if a.status == SUBMITTED]
        if not submitted:
            return
        ids = sorted({a.job_id for a in submitted if a.job_id})
        report.polled = len(ids)
        try:
            statuses = self.scheduler.poll(ids)
        except SchedulerUnavailable as exc:
            log.warning("scheduler unavailable, will retry: %s", exc)
            report.scheduler_unavailable = True
            statuses = None  # the exit records still tell which jobs finished
        now = time.time()
        gone = []
        for att in submitted:
            status = statuses.get(att.job_id or "") if statuses is not None else None
            if status is not None and status.state.is_active:
                self._gone_since.pop((att.workflow_id, att.node_path, att.number), None)
                continue
            gone.append((att, status))
        if not gone:
            return
        try:
            self.work_area.fetch([att.dir for att, _ in gone])
        except HpcflowError as exc:
            if not exc.transient:
                raise
            log.warning("cannot fetch exit records (site disconnected), will retry: %s", exc)
            report.scheduler_unavailable = True
            return
        for att, status in gone:
            key = (att.workflow_id, att.node_path, att.number)
            try:
                record = rec.read_exit(att.dir)
            except CorruptRecord as exc:
                self._apply_failure(att, ErrorKind.FATAL, str(exc))
                report.finished_units += 1
                continue
            if record is not None:
                self._apply_exit(att, record)
                report.finished_units += 1
                continue
            if statuses is None:
                continue  # never declare a job lost while the controller does not answer
            if not att.dir.is_dir():  # no record can appear any more: no grace period
                self._apply_failure(att, ErrorKind.FATAL, f"the attempt directory {att.dir} "
                                    "was deleted before the job wrote its exit record")
                report.finished_units += 1
                continue
            first = self._gone_since.setdefault(key, now)
            if now - first < self.settings.exit_record_grace_s:
                continue  # a slow shared filesystem may not show the exit record yet
            kind, message = outcome_from_scheduler(status or JobStatus(JobState.UNKNOWN))
            tail = job_log_tail(att, self.runs[att.workflow_id].work_dir)
            self._apply_failure(att, kind, f"{message}{tail}", host=status.node if status else None)
            report.finished_units += 1

    def _apply_exit(self, att: Attempt, record: dict[str, Any]) -> None:
        ok, kind, message = outcome_from_exit(record)
        if ok:
            run, node = self._node_of(att)
            try:
                outputs = rec.read_json(att.dir / rec.OUTPUTS_FILE) or {}
            except CorruptRecord as exc:
                self._apply_failure(att, ErrorKind.FATAL, str(exc))
                return
            self._close_attempt(att, AttemptStatus.SUCCEEDED, None, "")
            if node is not None and node.attempts == att.number and not node.final:
                run.complete_unit(node, outputs)
                self.cache.record(run, node)
            return
        self._apply_failure(att, kind or ErrorKind.ERROR, message, host=record.get("host"))

    def _apply_failure(self, att: Attempt, kind: ErrorKind, message: str, host: str | None = None) -> None:
        self._close_attempt(att, AttemptStatus.FAILED, kind, message)
        run, node = self._node_of(att)
        if node is not None and node.attempts == att.number and not node.final:
            run.fail_unit(node, kind, f"{message} [attempt {att.number}, {att.dir}]", host=host)

    def _node_of(self, att: Attempt) -> tuple[WorkflowRun, Node | None]:
        run = self.runs[att.workflow_id]
        return run, run.nodes.get(att.node_path)

    def _close_attempt(self, att: Attempt, status: AttemptStatus, kind: ErrorKind | None,
                       message: str) -> None:
        key = (att.workflow_id, att.node_path, att.number)
        self.inflight.pop(key, None)
        self._gone_since.pop(key, None)
        self._attempt_updates.append(
            (att, {"status": status, "kind": kind, "message": message, "finished_at": time.time()})
        )

    # ---------------------------------------------------------------------- launching

    def _plan(self) -> list[PlannedAttempt]:
        planned: list[PlannedAttempt] = []
        cap = self.settings.max_queued_jobs
        room = None if cap is None else max(0, cap - len(self.inflight))
        for run in self.runs.values():
            for node in list(run.launches.values()):
                if node.phase != m.PENDING:
                    continue
                if room is not None and len(planned) >= room:
                    break
                if not self.cache.consult(run, node):
                    continue  # a cache hit, or another workflow computes the same result
                try:
                    p = prepare_attempt(run, node, self.settings.storage)
                except OSError as exc:  # a full or unwritable work root fails this unit only
                    where = Path(run.work_dir)
                    run.fail_unit(node, ErrorKind.FATAL, f"cannot prepare attempt "
                                  f"{node.attempts + 1} under {where}: {describe(exc, where)}")
                    continue
                run.set_phase(node, m.RUNNING, f"attempt {p.number}")
                planned.append(p)
            run.launches.clear()
        return planned

    def _commit(self, planned: list[PlannedAttempt]) -> None:
        # Earlier attempts still waiting for a job id are collected before this tick's own.
        resubmit = self._resubmissions()
        self._pending_groups = (group_requests(planned, self.settings) if planned else []) + resubmit
        with self.store.transaction():
            self._write_attempt_updates()
            for p in planned:
                self.store.add_attempt(p.run.id, {
                    "node_path": p.node.path, "number": p.number, "dir": str(p.dir),
                    "tag": p.tag, "task_index": p.task_index, "backend": self.scheduler.name,
                    "status": SUBMITTING,
                })
                att = Attempt(p.run.id, p.node.path, p.number, p.dir, p.tag, SUBMITTING,
                              None, p.task_index)
                self.inflight[(p.run.id, p.node.path, p.number)] = att
            for run in self.runs.values():
                self._write_run(run)

    def _write_attempt_updates(self) -> None:
        """Inside a transaction: attempt changes, and a revision bump for their workflows so
        that another engine holding them in memory reloads."""
        touched = set()
        for att, fields in self._attempt_updates:
            self.store.update_attempt(att.workflow_id, att.node_path, att.number, **fields)
            touched.add(att.workflow_id)
        self._attempt_updates.clear()
        for wf_id in touched:
            run = self.runs.get(wf_id)
            if run is not None and not run.dirty and not run.events:
                run.revision = self.store.bump_revision(wf_id)

    def _write_run(self, run: WorkflowRun) -> None:
        if not run.dirty and not run.events:
            return
        for node in run.dirty.values():
            self.store.save_node(run.id, node.to_row())
        for path, kind, message in run.events:
            self.store.add_event(run.id, path, kind, message)
        run.dirty.clear()
        run.events.clear()
        root = run.nodes.get("")
        status = WorkflowStatus.RUNNING if root is not None and not root.final else None
        run.revision = self.store.bump_revision(run.id, status)

    def _submit(self, planned: list[PlannedAttempt]) -> None:
        groups = self._pending_groups
        self._pending_groups = []
        if not groups and not self._attempt_updates:
            return
        updates: list[tuple[Attempt, dict[str, Any]]] = []
        failed: list[tuple[PlannedAttempt, str]] = []
        groups = self._stage(groups)
        for request, items in groups:
            if isinstance(request, HpcflowError):
                failed += [(p, f"could not build the job: {request}") for p in items]
                continue
            try:
                code = code_roots(items[0].run.spec, items[0].run.launch)
                submitted = self.scheduler.submit(self.work_area.job_request(request, code))
            except SubmissionDeferred as exc:
                # A site limit refused it: kept as "submitting" and submitted again later.
                self._never_sent.add(request.tag)
                log.info("submission deferred (%s); will retry", exc)
                continue
            except SchedulerUnavailable as exc:
                # Kept as "submitting": sbatch may have gone through, so the next tick looks
                # the tag up first and submits again only if the scheduler does not know it.
                log.info("scheduler unavailable while submitting (%s); will look up %s",
                         exc, request.tag)
                continue
            except HpcflowError as exc:
                failed += [(p, f"could not submit the job: {exc}") for p in items]
                continue
            except OSError as exc:  # the job script could not be written (a full work root)
                failed += [(p, f"could not submit the job: {describe(exc, request.workdir)}")
                           for p in items]
                continue
            for p in items:
                att = self.inflight.get((p.run.id, p.node.path, p.number))
                if att is None:
                    continue
                att.job_id = submitted.task_ids[p.task_index]
                att.status = SUBMITTED
                att.tag = request.tag
                updates.append((att, {"job_id": att.job_id, "status": SUBMITTED, "tag": request.tag,
                                      "task_index": p.task_index, "submitted_at": time.time()}))
        for p, message in failed:
            att = self.inflight.get((p.run.id, p.node.path, p.number))
            if att is not None:
                self._apply_failure(att, ErrorKind.FATAL, message)
        self._attempt_updates = updates + self._attempt_updates
        with self.store.transaction():
            self._write_attempt_updates()
            for run in self.runs.values():
                self._write_run(run)

    def _stage(self, groups: list[Any]) -> list[Any]:
        """Stage every group's attempt directories for the jobs (one upload for all); if the
        site is disconnected, nothing is submitted and the attempts wait (never sent, so the
        next tick submits them again without a lookup)."""
        units = [p.dir for request, items in groups if not isinstance(request, HpcflowError)
                 for p in items]
        if not units:
            return groups
        code = [root for request, items in groups if not isinstance(request, HpcflowError)
                for root in code_roots(items[0].run.spec, items[0].run.launch)]
        try:
            self.work_area.stage(units, list(dict.fromkeys(code)))
        except HpcflowError as exc:
            if not exc.transient:
                raise
            log.warning("cannot stage %d attempt(s) (site disconnected), will retry: %s",
                        len(units), exc)
            self._never_sent.update(r.tag for r, _ in groups if not isinstance(r, HpcflowError))
            return [(r, items) for r, items in groups if isinstance(r, HpcflowError)]
        return groups

    def _resubmissions(self) -> list[Any]:
        """Attempts recorded but never confirmed submitted: adopt them, or submit again.

        Any of them may have reached the scheduler (an ``sbatch`` that timed out after the
        controller accepted it, an engine that died before recording the job id), so every
        one is looked up by its tag first. Only when the scheduler has answered, and does
        not know the tag, is the attempt submitted again, under a new tag committed before
        the submission. A lookup that fails leaves them waiting, never resubmitted.
        """
        waiting = [a for a in self.inflight.values() if a.status == SUBMITTING and a.job_id is None]
        if not waiting:
            return []
        lookup = sorted({a.tag for a in waiting if a.tag not in self._never_sent})
        try:
            found = self.scheduler.adopt(lookup) if lookup else {}
        except HpcflowError as exc:
            log.warning("cannot look up %d unconfirmed attempt(s) (%s); they wait for the "
                        "scheduler to answer", len(waiting), exc)
            return []
        self._never_sent.difference_update(a.tag for a in waiting)
        for att in waiting:
            job = found.get(att.tag)
            if job is not None and att.task_index < len(job.task_ids):
                att.job_id, att.status = job.task_ids[att.task_index], SUBMITTED
                self._attempt_updates.append((att, {"job_id": att.job_id, "status": SUBMITTED}))
        replans = []
        for att in waiting:
            if att.status != SUBMITTING:
                continue
            run, node = self._node_of(att)
            if node is None:
                continue
            replans.append(PlannedAttempt(run, node, att.number, att.dir))
        groups = group_requests(replans, self.settings) if replans else []
        for p in replans:  # the new tag is committed before the job is submitted
            att = self.inflight[(p.run.id, p.node.path, p.number)]
            att.tag, att.task_index = p.tag, p.task_index
            self._attempt_updates.append((att, {"tag": p.tag, "task_index": p.task_index}))
        return groups

    # ------------------------------------------------------------------------- finish

    def _finish_workflows(self) -> list[str]:
        done = []
        for wf_id, run in list(self.runs.items()):
            root = run.nodes.get("")
            if root is None or not root.final:
                continue
            status = WorkflowStatus.SUCCEEDED if root.phase == m.SUCCEEDED else WorkflowStatus.FAILED
            self.store.set_workflow_status(wf_id, status, root.message)
            done.append(wf_id)
            self._drop_run(wf_id)
        return done

    # ------------------------------------------------------------------ cancel, retry

    def cancel(self, wf_id: str, reason: str = "cancelled by the user") -> int:
        """Cancel every job of a workflow and mark it failed; returns how many jobs."""
        self._sync_runs()
        if wf_id not in self.runs:
            self._load_run(wf_id)
        run = self.runs[wf_id]
        atts = [a for a in self.inflight.values() if a.workflow_id == wf_id]
        unconfirmed = sorted({a.tag for a in atts if a.job_id is None})
        if unconfirmed:  # sbatch may have gone through before the job id was recorded
            try:
                for job in self.scheduler.adopt(unconfirmed).values():
                    for att in atts:
                        if att.tag == job.tag and att.job_id is None and att.task_index < len(job.task_ids):
                            att.job_id = job.task_ids[att.task_index]
            except HpcflowError:
                log.warning("could not look for unconfirmed jobs of %s", wf_id)
        ids = sorted({a.job_id for a in atts if a.job_id})
        if ids:
            self.scheduler.cancel(ids)
        for att in atts:
            self._close_attempt(att, AttemptStatus.CANCELLED, ErrorKind.CANCELLED, reason)
        for node in run.nodes.values():
            if not node.final:
                run.set_phase(node, m.FAILED, reason)
        with self.store.transaction():
            self._write_attempt_updates()
            self._write_run(run)
        self.store.set_workflow_status(wf_id, WorkflowStatus.FAILED, reason)
        self._drop_run(wf_id)
        return len(ids)


def job_log_tail(att: Attempt, work_dir: str, lines: int = 5) -> str:
    """The end of the scheduler's log of a job that left no exit record (why it died:
    a missing container runtime, an interpreter that would not start, ...)."""
    job = att.job_id or ""
    base = job.split("_")[0]
    dirs = [att.dir, Path(work_dir) / "jobs" / att.tag]
    patterns = [f"slurm-{job}.err", f"slurm-{base}_*.err", f"{att.tag}.{att.task_index}.log"]
    for d in dirs:
        for pattern in patterns:
            for path in sorted(d.glob(pattern)):
                text = path.read_text(errors="replace").strip().splitlines()[-lines:]
                if text:
                    return f"; the job's log {path} ends with: " + " | ".join(text)
    return ""


def reset_failed(store: Store, wf_id: str) -> int:
    """Prepare a failed workflow for ``hpcflow retry``: failed steps run again, the rest stay."""
    row = store.get_workflow(wf_id)
    nodes = [Node.from_row(r) for r in store.load_nodes(wf_id)]
    by_path = {n.path: n for n in nodes}
    doomed: set[str] = set()
    reset = 0
    for node in nodes:
        if node.phase not in (m.FAILED, m.OMITTED):
            continue
        parent = by_path.get(node.parent) if node.parent is not None else None
        in_fanout = parent is not None and parent.type == m.FANOUT  # fan-outs never recreate children
        if node.type == m.POD and (node.attempts > 0 or in_fanout):
            node.phase, node.finished_at, node.outputs, node.message = m.PENDING, None, None, None
            node.retries = node.system_retries = 0
            reset += 1
        elif node.type == m.FANOUT or node.type in (m.STEPS, m.DAG) and node.inputs is not None:
            node.phase, node.finished_at, node.outputs = m.RUNNING, None, None
        else:  # never got going (an expression error, an omitted task): instantiated anew
            doomed.add(node.path)
            reset += 1
    # a deleted node takes its subtree with it
    for path in list(doomed):
        doomed |= {p for p in by_path if p.startswith(path + "/") or p.startswith(path + "(")}
    with store.transaction():
        store.delete_nodes(wf_id, sorted(doomed))
        for node in nodes:
            if node.path not in doomed:
                store.save_node(wf_id, node.to_row())
        store.conn.execute(
            "UPDATE workflows SET status = 'Running', finished_at = NULL, message = NULL,"
            " revision = revision + 1 WHERE id = ?", (wf_id,)
        )
        store.add_event(wf_id, None, "retry", f"retrying {reset} failed step(s) of {row['name']}")
    return reset

