"""Observing: one scheduler query when due, then the exit records of jobs that left it.

The exit record is the truth; queue state only says "still there" or, when no record
appears within the grace period, why the job vanished.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpcflow.engine import chain, chain_jobs, wake
from hpcflow.engine.model import Node
from hpcflow.engine.outcomes import outcome_from_exit, outcome_from_scheduler
from hpcflow.engine.poll_policy import PollClock, typical_runtime
from hpcflow.engine.run import WorkflowRun
from hpcflow.engine.state import SUBMITTED, Attempt, AttemptKey, EngineState, TickReport
from hpcflow.errors import CorruptRecord, HpcflowError, SchedulerUnavailable
from hpcflow.runtime import records as rec
from hpcflow.runtime.tasklist import TASK_LIST
from hpcflow.scheduler.base import JobState, JobStatus
from hpcflow.states import AttemptStatus, ErrorKind

log = logging.getLogger("hpcflow.engine")

#: Runtimes remembered per step (the typical one is their median).
RUNTIMES_KEPT = 50
#: With at most this many jobs in flight (the tail of a fan-out, a chain's last step), their
#: exit records are looked for between scheduler queries: a stat each on the shared
#: filesystem, nothing asked of the controller, so that the end is seen when it is written.
LOOK_AHEAD_MAX = 16
#: How often: every 0.25 s within a minute of the last change, then every 2 s (a long job
#: must not keep the engine ticking four times a second for hours).
LOOK_AHEAD_S, LOOK_AHEAD_SLOW_S, LOOK_AHEAD_FAST_FOR_S = 0.25, 2.0, 60.0


class Observer(EngineState):
    """The engine's observing half: turns queue states and exit records into outcomes."""

    def _observe(self, report: TickReport) -> None:
        """Ask the scheduler once about every job in flight (when a query is due, see
        :mod:`hpcflow.engine.poll_policy`), then read the exit records of the jobs it no
        longer reports as pending or running (the records are the truth)."""
        submitted = [a for a in self.inflight.values() if a.status == SUBMITTED]
        dormant = [job for ids in self._dormant_jobs.values() for job in ids]
        if not submitted and not dormant:
            return
        now = time.time()
        clock = self._poll_clock
        ends: list[float] = []
        ended: list[Attempt] = []  # jobs whose exit records appeared before the queue said so
        ended_keys: set[AttemptKey] = set()
        if clock is not None:
            clock.note_jobs(itertools.chain((a.job_id for a in submitted if a.job_id), dormant), now)
            ends = self._expected_ends(submitted)
            ended = [a for a in self._look_ahead(submitted) if rec.has_exit(a.dir_text)]
            ended_keys = {(a.workflow_id, a.node_path, a.number) for a in ended}
            # A chained job's record says its producers ended too: ask the queue now (never
            # twice within the policy's shortest gap), so that they are settled first, with
            # it, instead of at the next due query.
            ask_now = clock.due(now, ends) or (
                any(key in self._chained_inflight for key in ended_keys)
                and (clock.last_poll is None or now - clock.last_poll >= clock.policy.min_s))
            if not ask_now:
                # No query: the jobs the last query saw gone are looked at again (their exit
                # records may appear late on a slow shared filesystem), and so are the few
                # jobs in flight whose records can be read here and have appeared.
                waiting = [a for a in submitted if (key := (a.workflow_id, a.node_path, a.number))
                           in self._gone_since and key not in ended_keys]
                waiting += ended
                if waiting:
                    self._settle(report, [(a, None) for a in waiting], None, now)
                report.next_poll_at = self._next_tick_due(clock, ends, now)
                return
        ids = sorted({a.job_id for a in submitted if a.job_id}.union(dormant))
        report.polled = len(ids)
        try:
            statuses = self.scheduler.poll(ids)
        except SchedulerUnavailable as exc:
            log.warning("scheduler unavailable, will retry: %s", exc)
            report.scheduler_unavailable = True
            statuses = None  # the exit records still tell which jobs finished
        if clock is not None:
            if statuses is None:
                clock.unanswered(now)
            else:
                answered = statuses
                clock.polled(now, {i: answered[i].state.value if i in answered else "gone" for i in ids})
        if self._dormant_jobs:
            submitted += self._wake(statuses, report)
        gone = []
        active: dict[int, bool] = {}  # per status object: a pending range shares one
        for att in submitted:
            status = statuses.get(att.job_id or "") if statuses is not None else None
            key = (att.workflow_id, att.node_path, att.number)
            if status is not None and not (ended_keys and key in ended_keys):
                still = active.get(id(status))
                if still is None:
                    still = active[id(status)] = status.state.is_active
                if still:
                    if self._gone_since and self._gone_since.pop(key, None) is not None:
                        self._attempt_updates.append((att, {"gone_since": None}))  # back in the queue
                    continue
            gone.append((att, status))
        if gone:
            self._settle(report, gone, statuses, now)
        if clock is not None:
            if report.finished_units:
                clock.note_change(now)
            report.next_poll_at = self._next_tick_due(clock, ends, now)

    def _next_tick_due(self, clock: PollClock, ends: list[float], now: float) -> float:
        """When the next query is due, or sooner, the next look ahead at exit records."""
        due = clock.next_due(ends)
        if self._look_ahead(self._few_submitted()):
            fast = now - clock.last_change < LOOK_AHEAD_FAST_FOR_S
            due = min(due, now + (LOOK_AHEAD_S if fast else LOOK_AHEAD_SLOW_S))
        return due

    def _few_submitted(self) -> list[Attempt] | None:
        """The submitted attempts in flight, or None as soon as there are more than
        :data:`LOOK_AHEAD_MAX` (a big fan-out is not listed again at the end of every tick)."""
        few = []
        for att in self.inflight.values():
            if att.status == SUBMITTED:
                few.append(att)
                if len(few) > LOOK_AHEAD_MAX:
                    return None
        return few

    def _look_ahead(self, submitted: list[Attempt] | None) -> list[Attempt]:
        """The jobs whose exit records are looked for before the queue says they ended,
        where the work area is this machine's filesystem: all of ``submitted`` when they
        are few; else (``None``: too many) the few chained ones, queued behind producers,
        whose record says those ended too (the reduce behind a big fan-out)."""
        if submitted is None or len(submitted) > LOOK_AHEAD_MAX:
            chained = self._chained_inflight
            if len(chained) > LOOK_AHEAD_MAX:
                return []
            submitted = [a for a in chained.values() if a.status == SUBMITTED]
        return [a for a in submitted if self.work_area.reads_in_place(a.dir)]

    def _settle(self, report: TickReport, gone: list[tuple[Attempt, JobStatus | None]],
                statuses: Mapping[str, JobStatus] | None, now: float) -> None:
        """Read the exit records of jobs that left the queue; a job gone longer than the
        grace period without one is lost (decided only right after a query answered)."""
        try:
            self.work_area.fetch([att.dir for att, _ in gone])
        except HpcflowError as exc:
            if not exc.transient:
                raise
            log.warning("cannot fetch exit records (site disconnected), will retry: %s", exc)
            report.scheduler_unavailable = True
            return
        gone.sort(key=lambda g: chain.depth(self._node_of(g[0])[1]))  # producers first
        for att, status in gone:
            key = (att.workflow_id, att.node_path, att.number)
            if chain.waiting_on_producers(*self._node_of(att)):
                continue  # launched early: its producers' outcome decides first (advance)
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
            if chain_jobs.replan_if_dependency_killed(self, att, status):
                continue
            if self._deleted(att, status):  # no record can appear any more: no grace period
                self._apply_failure(att, ErrorKind.FATAL, f"the attempt directory {att.dir} "
                                    "was deleted before the job wrote its exit record")
                report.finished_units += 1
                continue
            first = self._gone_since.get(key)
            if first is None:  # recorded, so that the next engine (a cron tick) goes on counting
                first = self._gone_since[key] = now
                self._attempt_updates.append((att, {"gone_since": now}))
            if now - first < self.settings.exit_record_grace_s:
                continue  # a slow shared filesystem may not show the exit record yet
            status = self._described(att, status)
            if chain_jobs.replan_if_dependency_killed(self, att, status):
                continue
            if self._deleted(att, status):  # a poll shows queue states only: asked again
                self._apply_failure(att, ErrorKind.FATAL, f"the attempt directory {att.dir} "
                                    "was deleted before the job wrote its exit record")
                report.finished_units += 1
                continue
            kind, message = outcome_from_scheduler(status or JobStatus(JobState.UNKNOWN))
            tail = job_log_tail(att, self.runs[att.workflow_id].work_dir)
            self._apply_failure(att, kind, f"{message}{tail}", host=status.node if status else None)
            report.finished_units += 1

    def _wake(self, statuses: Mapping[str, JobStatus] | None, report: TickReport) -> list[Attempt]:
        """Dormant workflows some of whose jobs left the queue: record their units'
        successes alone when that is all that changed (:mod:`hpcflow.engine.wake`), else
        load the run (every dormant run when the scheduler did not answer: the exit
        records tell). Returns the loaded runs' attempts in flight."""
        woken = []
        for wf_id, ids in list(self._dormant_jobs.items()):
            if statuses is None:
                woken.append(wf_id)
                continue
            gone = {job for job in ids if not _active(statuses.get(job))}
            if not gone:
                continue
            recorded = wake.record_successes(self, wf_id, gone)
            if recorded is None:
                woken.append(wf_id)
            else:
                report.finished_units += recorded
        for wf_id in woken:
            self._load_run(wf_id)
        return [a for a in self.inflight.values() if a.workflow_id in woken and a.status == SUBMITTED]

    def _described(self, att: Attempt, status: JobStatus | None) -> JobStatus | None:
        """The full status of a lost job (exit code, reason, node; from accounting once it
        left the queue), asked only when the engine is about to say why it was lost: polls
        carry queue states alone."""
        if not hasattr(self.scheduler, "describe") or not att.job_id:
            return status
        try:
            full: Mapping[str, JobStatus] = self.scheduler.describe([att.job_id])
        except HpcflowError:
            return status
        return full.get(att.job_id, status)

    def _expected_ends(self, submitted: list[Attempt]) -> list[float]:
        """When jobs in flight are due to end: submission time plus the typical runtime of
        their step's finished attempts (one time per step and submission second)."""
        ends = set()
        learnt = {wf_id for (wf_id, _), typical in self._typical.items() if typical is not None}
        for att in submitted:
            if att.submitted_at is None or att.workflow_id not in learnt:
                continue
            run = self.runs.get(att.workflow_id)
            node = run.nodes.get(att.node_path) if run is not None else None
            typical = self._typical.get((att.workflow_id, node.template if node else None))
            if typical is not None:
                ends.add(round(att.submitted_at + typical, 1))
        return sorted(ends)

    def _learn_runtime(self, att: Attempt, finished_at: float) -> None:
        """Remember how long a successful attempt took from submission, for its step."""
        if att.submitted_at is None:
            return
        run, node = self._node_of(att)
        key = (att.workflow_id, node.template if node else None)
        seen = self._runtimes.setdefault(key, [])
        seen.append(finished_at - att.submitted_at)
        del seen[:-RUNTIMES_KEPT]
        self._typical[key] = typical_runtime(seen)

    def _apply_exit(self, att: Attempt, record: dict[str, Any]) -> None:
        ok, kind, message = outcome_from_exit(record)
        if ok:
            run, node = self._node_of(att)
            try:
                outputs = rec.read_outputs(att.dir, record)
            except CorruptRecord as exc:
                self._apply_failure(att, ErrorKind.FATAL, str(exc))
                return
            self._close_attempt(att, AttemptStatus.SUCCEEDED, None, "")
            self._learn_runtime(att, time.time())
            if node is not None and node.attempts == att.number and not node.final:
                run.complete_unit(node, outputs)
                self.cache.record(run, node)
            return
        self._apply_failure(att, kind or ErrorKind.ERROR, message, host=record.get("host"))

    def _deleted(self, att: Attempt, status: JobStatus | None) -> bool:
        """Whether the attempt directory was deleted. The runtime creates it when the unit
        starts, so its absence means deletion only once the job ran to a clean end (exit 0),
        or for attempts whose directory the engine made (before task lists)."""
        if att.dir.is_dir():
            return False
        if status is not None and status.state == JobState.COMPLETED and status.exit_code == 0:
            return True
        run = self.runs.get(att.workflow_id)
        return run is not None and not (Path(run.work_dir) / "jobs" / att.tag / TASK_LIST).exists()

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
        self._chained_inflight.pop(key, None)
        self._attempt_updates.append(
            (att, {"status": status, "kind": kind, "message": message, "finished_at": time.time()})
        )


def _active(status: JobStatus | None) -> bool:
    return status is not None and status.state.is_active


def job_log_tail(att: Attempt, work_dir: str, lines: int = 5) -> str:
    """The end of the scheduler's log of a job that left no exit record (why it died:
    a missing container runtime, an interpreter that would not start, ...)."""
    job = att.job_id or ""
    base = job.split("_")[0]
    dirs = [att.dir, Path(work_dir) / "jobs" / att.tag]
    patterns = [f"slurm-{job}.err", f"slurm-{base}.err", f"slurm-{base}_*.err",
                f"{att.tag}.{att.task_index}.log", f"{att.tag}.log"]
    for d in dirs:
        for pattern in patterns:
            for path in sorted(d.glob(pattern)):
                text = path.read_text(errors="replace").strip().splitlines()[-lines:]
                if text:
                    return f"; the job's log {path} ends with: " + " | ".join(text)
    return ""


