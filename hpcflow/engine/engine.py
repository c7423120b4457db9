"""The tick: observe attempts, advance workflows, launch what is ready, record it all.

The observing half lives in :mod:`hpcflow.engine.observe`, the launching half in
:mod:`hpcflow.engine.submit`; this module holds the loop, loading and cancelling.

One ``Engine.tick()`` is a bounded pass over active work only. It is what the daemon loops
over, what ``hpcflow tick`` runs once from cron, and what ``wf.wait()`` drives in local
mode. Submission is idempotent: an attempt is recorded (with its tag) before the scheduler
sees it, and attempts found in the store without a job id are adopted or resubmitted.
"""

from __future__ import annotations

import logging

from hpcflow.engine import model as m
from hpcflow.engine.cache_hook import CacheHook
from hpcflow.engine.chain import ChainOptions
from hpcflow.engine.model import Node
from hpcflow.engine.poll_policy import PollClock, PollPolicy, typical_runtime
from hpcflow.engine.quiet import is_quiet
from hpcflow.engine.reset import reset_failed
from hpcflow.engine.run import WorkflowRun
from hpcflow.engine.settings import EngineSettings
from hpcflow.engine.state import ACTIVE_ATTEMPT, Attempt, TickReport
from hpcflow.engine.submit import Launcher
from hpcflow.engine.work_area import LocalWorkArea, WorkArea
from hpcflow.errors import HpcflowError
from hpcflow.scheduler.base import Scheduler, runs_in_unit_dirs, supports_dependencies
from hpcflow.states import AttemptStatus, ErrorKind, WorkflowStatus
from hpcflow.store.db import Store

__all__ = ["Attempt", "Engine", "TickReport", "reset_failed"]

log = logging.getLogger("hpcflow.engine")


class Engine(Launcher):
    """Drives every active workflow of one store through one scheduler."""

    def __init__(self, store: Store, scheduler: Scheduler, settings: EngineSettings,
                 only: set[str] | None = None, site_name: str | None = None,
                 work_area: WorkArea | None = None) -> None:
        self.store = store
        #: Where the jobs see their attempt directories (here, or a cluster over SSH).
        self.work_area = work_area if work_area is not None else LocalWorkArea()
        #: Workflows submitted for another site are left to an engine of that site.
        self.site_name = site_name
        self._foreign: set[str] = set()
        self.scheduler = scheduler
        self.settings = settings
        self.only = only
        self.runs = {}
        self.inflight = {}
        self._gone_since = {}
        self._chained_inflight = {}
        self._attempt_updates = []
        self._pending_groups = []
        self._never_sent = set()
        self._dormant = {}
        self._dormant_jobs = {}
        #: The revision each loaded run was last checked for quietness at.
        self._quiet_checked: dict[str, int] = {}
        # A scheduler whose queries load a shared controller is asked only when a query is
        # due (hpcflow.engine.poll_policy); the local one answers from this process.
        self._poll_clock = (PollClock(PollPolicy(max_s=settings.poll_max_s))
                            if getattr(scheduler, "rate_limited", False) else None)
        self._runtimes = {}
        self._typical = {}
        self.cache = CacheHook(store, settings.cache_default)

    # --------------------------------------------------------------------------- tick

    def tick(self) -> TickReport:
        try:
            return self._tick()
        except BaseException:
            # Half a tick may have changed memory but not the store: forget it all, so the
            # next tick starts again from what was committed.
            self.runs.clear()
            self._dormant.clear()
            self._dormant_jobs.clear()
            self.inflight.clear()
            self._chained_inflight.clear()
            self._attempt_updates.clear()
            self._pending_groups = []
            raise

    def _tick(self) -> TickReport:
        report = TickReport()
        self._sync_runs()
        report.active_workflows = len(self.runs) + len(self._dormant)
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
        report.inflight = self.inflight_count()
        self._mark_quiet()
        return report

    def _mark_quiet(self) -> None:
        """Record the workflows that now wait only for attempts in flight (checked once per
        revision), so that a fresh engine can watch them without loading their nodes."""
        fresh = [run for run in self.runs.values() if self._quiet_checked.get(run.id) != run.revision]
        if not fresh:
            return
        statuses: dict[str, list[AttemptStatus]] = {}
        for att in self.inflight.values():
            statuses.setdefault(att.workflow_id, []).append(att.status)
        quiet = []
        for run in fresh:
            self._quiet_checked[run.id] = run.revision
            if is_quiet(run, statuses.get(run.id, ())):
                quiet.append(run)
        if quiet:
            with self.store.transaction():
                for run in quiet:
                    self.store.mark_quiet(run.id, run.revision)

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
        for wf_id in [*self.runs, *self._dormant]:
            if wf_id not in revisions:
                self._drop_run(wf_id)
        quiet = self.store.quiet_revisions() if revisions.keys() - self.runs.keys() else {}
        for wf_id, revision in revisions.items():
            if wf_id in self._foreign:
                continue
            run = self.runs.get(wf_id)
            if run is None and quiet.get(wf_id) == revision:
                if self._dormant.get(wf_id) != revision:
                    self._load_dormant(wf_id, revision)
                continue
            if run is None or run.revision != revision:
                self._load_run(wf_id)

    def _foreign_site(self, wf_id: str, site: str | None) -> bool:
        """Workflows submitted for another site are left to an engine of that site."""
        if self.site_name is None or site is None or site == self.site_name:
            return False
        log.warning("workflow %s was submitted for site %s; this engine drives site %s "
                    "(use hpcflow --site ... daemon/tick)", wf_id, site, self.site_name)
        self._foreign.add(wf_id)
        return True

    def _load_dormant(self, wf_id: str, revision: int) -> None:
        """Watch a quiet workflow's attempts without loading its nodes (hpcflow.engine.quiet);
        :meth:`_wake` loads the run when one of them leaves the queue."""
        self._drop_run(wf_id)
        if self._foreign_site(wf_id, self.store.workflow_site_name(wf_id)):
            return
        job_ids = self.store.submitted_job_ids(wf_id)
        if job_ids is None:
            self._load_run(wf_id)  # an attempt waits for its job id: adoption needs the run
            return
        self._dormant_jobs[wf_id] = job_ids
        self._dormant[wf_id] = revision

    def _load_run(self, wf_id: str) -> None:
        self._drop_run(wf_id)
        row = self.store.get_workflow(wf_id)
        if self._foreign_site(wf_id, (row.get("site") or {}).get("name")):
            return
        nodes = [Node.from_row(r) for r in self.store.load_nodes(wf_id, raw_inputs=True)]
        run = WorkflowRun(row, nodes)
        run.chaining = ChainOptions(jobs=supports_dependencies(self.scheduler),
                                    fuse=runs_in_unit_dirs(self.scheduler),
                                    cache_default=self.settings.cache_default)
        self.runs[wf_id] = run
        statuses = {s.value: s for s in AttemptStatus}
        for (path, number, unit_dir, tag, status, job_id, task_index,
             submitted_at, gone) in self.store.active_attempts(wf_id, ACTIVE_ATTEMPT):
            att = Attempt(wf_id, path, number, unit_dir, tag, statuses[status], job_id,
                          task_index, submitted_at)
            self._watch(att, run.nodes.get(path))
            if gone is not None:  # an earlier engine (a cron tick) saw its job gone then
                self._gone_since[(wf_id, path, number)] = gone
        if self._poll_clock is not None:
            self._load_runtimes(run)

    def _load_runtimes(self, run: WorkflowRun) -> None:
        """The recorded runtimes of the workflow's finished attempts, per step (the latest
        few hundred: enough for a median)."""
        for key in [k for k in self._runtimes if k[0] == run.id]:
            del self._runtimes[key]
        for path, runtime in self.store.attempt_runtimes(run.id, limit=500):
            node = run.nodes.get(path)
            self._runtimes.setdefault((run.id, node.template if node else None), []).append(runtime)
        for key, seen in self._runtimes.items():
            if key[0] == run.id:
                self._typical[key] = typical_runtime(seen)

    def _drop_run(self, wf_id: str) -> None:
        self.runs.pop(wf_id, None)
        self._dormant.pop(wf_id, None)
        self._dormant_jobs.pop(wf_id, None)
        for key in [k for k in self.inflight if k[0] == wf_id]:
            del self.inflight[key]
        for key in [k for k in self._gone_since if k[0] == wf_id]:
            del self._gone_since[key]  # recorded in the store: loaded again with the run
        for key in [k for k in self._chained_inflight if k[0] == wf_id]:
            del self._chained_inflight[key]

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


