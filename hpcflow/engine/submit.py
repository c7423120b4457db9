"""Launching: plan attempts for ready units, commit them (tags first), then submit.

Submission is idempotent: an attempt and its tag are committed before the scheduler sees
the job, and attempts found without a job id are looked up by tag (adopted) before any
of them is submitted again.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from pathlib import Path
from typing import Any

from hpcflow.engine import chain_jobs
from hpcflow.engine import model as m
from hpcflow.engine.launch import PlannedAttempt, prepare_attempt
from hpcflow.engine.observe import Observer
from hpcflow.engine.run import WorkflowRun
from hpcflow.engine.state import SUBMITTED, SUBMITTED_FIELDS, SUBMITTING, Attempt, AttemptChange
from hpcflow.engine.work_area import code_roots
from hpcflow.errors import HpcflowError, SchedulerUnavailable, SubmissionDeferred
from hpcflow.runtime.fserrors import describe
from hpcflow.states import ErrorKind, WorkflowStatus

log = logging.getLogger("hpcflow.engine")


class Launcher(Observer):
    """The engine's launching half: plan, commit, stage, submit, adopt."""

    def _plan(self) -> list[PlannedAttempt]:
        planned: list[PlannedAttempt] = []
        by_path: dict[str, dict[str, PlannedAttempt]] = {}  # per run, for chained units' links
        chain_jobs.withdraw(self)  # chained attempts whose producers failed: not failures
        cap = self.settings.max_queued_jobs
        room = None if cap is None else max(0, cap - self.inflight_count())
        for run in self.runs.values():
            for node in list(run.launches.values()):
                if node.phase != m.PENDING:
                    continue
                if room is not None and len(planned) >= room:
                    break
                links = chain_jobs.plan_links(self, run, node, by_path.setdefault(run.id, {}))
                if links is chain_jobs.WAIT:
                    continue  # launched early, but a producer has no attempt yet
                if not self.cache.consult(run, node):
                    continue  # a cache hit, or another workflow computes the same result
                try:
                    p = prepare_attempt(run, node, self.settings.storage,
                                        deferred=links.deferred if links else None)
                except OSError as exc:  # a full or unwritable work root fails this unit only
                    where = Path(run.work_dir)
                    run.fail_unit(node, ErrorKind.FATAL, f"cannot prepare attempt "
                                  f"{node.attempts + 1} under {where}: {describe(exc, where)}")
                    continue
                run.set_phase(node, m.RUNNING, _attempt_message(p.number))
                planned.append(p)
                by_path[run.id][node.path] = p
            run.launches.clear()
        return planned

    def _commit(self, planned: list[PlannedAttempt]) -> None:
        # Earlier attempts still waiting for a job id are collected before this tick's own.
        resubmit = self._resubmissions()
        self._pending_groups = (chain_jobs.build_requests(planned, self.settings) if planned else []) + resubmit
        with self.store.transaction():
            self._write_attempt_updates()
            for wf_id in dict.fromkeys(p.run.id for p in planned):
                self.store.add_attempts(wf_id, ({
                    "node_path": p.node.path, "number": p.number, "dir": p.dir_text,
                    "tag": p.tag, "task_index": p.task_index, "backend": self.scheduler.name,
                    "status": SUBMITTING,
                } for p in planned if p.run.id == wf_id))
            for run in self.runs.values():  # first: its events are let go before the attempts
                self._write_run(run)
            for p in planned:
                # prepare_attempt made the directory from the work root: so will the attempt
                att = Attempt(p.run.id, p.node.path, p.number, None, p.tag, SUBMITTING,
                              None, p.task_index, work_root=p.run.work_dir)
                self._watch(att, p.node)

    def _write_attempt_updates(self) -> None:
        """Inside a transaction: attempt changes, and a revision bump for their workflows so
        that another engine holding them in memory reloads."""
        touched = {att.workflow_id for att, _ in self._attempt_updates}
        self.store.update_attempts(
            (att.workflow_id, att.node_path, att.number,
             fields if isinstance(fields, dict) else {k: getattr(att, k) for k in fields})
            for att, fields in self._attempt_updates)
        self._attempt_updates.clear()
        for wf_id in touched:
            run = self.runs.get(wf_id)
            if run is not None and not run.dirty and not run.events:
                run.revision = self.store.bump_revision(wf_id)

    def _write_run(self, run: WorkflowRun) -> None:
        if not run.dirty and not run.events:
            return
        self.store.save_nodes(run.id, (node.to_row() for node in run.dirty.values()))
        self.store.add_events(run.id, run.events)
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
        updates: list[tuple[Attempt, AttemptChange]] = []
        failed: list[tuple[PlannedAttempt, str]] = []
        groups = self._stage(groups)
        for request, items in groups:
            if isinstance(request, HpcflowError):
                failed += [(p, f"could not build the job: {request}") for p in items]
                continue
            depends_on = chain_jobs.dependencies(self, items)
            if depends_on is None:  # a producer's job has no id yet: submitted on a later tick
                self._never_sent.add(request.tag)
                continue
            if depends_on:
                request = dataclasses.replace(request, depends_on=depends_on)
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
            now = time.time()
            for p in items:
                att = self.inflight.get((p.run.id, p.node.path, p.number))
                if att is None:
                    continue
                att.job_id = submitted.task_ids[p.task_index]
                att.status = SUBMITTED
                att.tag = request.tag
                att.task_index = p.task_index
                att.submitted_at = now
                updates.append((att, SUBMITTED_FIELDS))
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
        units = [request.task_list for request, _ in groups  # one task list per job
                 if not isinstance(request, HpcflowError) and request.task_list is not None]
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
            replans.append(PlannedAttempt(run, node, att.number, att.dir_text))
        groups = chain_jobs.build_requests(replans, self.settings) if replans else []
        for p in replans:  # the new tag is committed before the job is submitted
            att = self.inflight[(p.run.id, p.node.path, p.number)]
            att.tag, att.task_index = p.tag, p.task_index
            self._attempt_updates.append((att, {"tag": p.tag, "task_index": p.task_index}))
        return groups


@functools.lru_cache(maxsize=64)
def _attempt_message(number: int) -> str:
    """A running unit's message, one string per attempt number (not one per unit)."""
    return f"attempt {number}"
