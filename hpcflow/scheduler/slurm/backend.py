"""``SlurmScheduler``: the Slurm implementation of the scheduler protocol.

Every command goes through an injected :class:`~hpcflow.transport.Transport`, so the same code
drives a local Slurm client or a login node over SSH. Each public call issues a fixed, small
number of commands (counted in :data:`COMMAND_COUNTS` for benchmarks): submit = one sbatch
per MaxArraySize chunk, poll = one squeue, describe (lost jobs only) = one squeue + one sacct,
cancel = one scancel, adopt = one squeue + one sacct. Polls ask for ids and states alone
(``--only-job-state``) where the Slurm client is new enough (probed once).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from hpcflow.errors import SchedulerError, SchedulerUnavailable, SubmissionDeferred, TransportError
from hpcflow.scheduler.base import JobRequest, JobState, JobStatus, SubmittedJob
from hpcflow.scheduler.slurm import argv as A
from hpcflow.scheduler.slurm import parse as P
from hpcflow.scheduler.slurm.python_script import render_python_script, runtime_command
from hpcflow.scheduler.slurm.script import (
    render_script,
    render_task_list,
    shared_argv,
    tag_of,
    validate_tag,
)
from hpcflow.transport import CommandResult, LocalTransport, Transport

#: How many times each Slurm command ran in this process (``sbatch``, ``squeue``, ...).
COMMAND_COUNTS: Counter[str] = Counter()

#: Writes a text file where the jobs will read it (local disk here; an SSH transport's peer).
FileWriter = Callable[[Path, str], None]
#: Writes many files at once (one remote command over SSH, however many task files).
FilesWriter = Callable[[Mapping[Path, str]], None]


def reset_command_counts() -> None:
    COMMAND_COUNTS.clear()


def write_file_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a job never reads half a task list."""
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _task_sort_key(task_id: str) -> tuple[int, int]:
    base, _, index = task_id.partition("_")
    return int(base), int(index) if index else -1


class SlurmScheduler:
    """Submits, observes and cancels Slurm jobs for hpcflow."""

    name = "slurm"
    #: Every query loads the shared controller: the engine asks only when a query is due
    #: (hpcflow.engine.poll_policy).
    rate_limited = True
    #: Jobs can wait for others (``--dependency=afterok``): see ``JobRequest.depends_on``.
    supports_dependencies = True
    #: Tasks run the runtime on the attempt directories (fused steps read each other's).
    runs_in_unit_dirs = True

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        write_file: FileWriter = write_file_atomically,
        write_files: FilesWriter | None = None,
        timeout_s: float = 60.0,
        adopt_lookback: timedelta = timedelta(days=7),
        max_array_size: int | None = None,
    ) -> None:
        self.transport: Transport = transport if transport is not None else LocalTransport()
        self.write_file = write_file
        self.write_files = write_files
        self.timeout_s = timeout_s
        self.adopt_lookback = adopt_lookback
        self._max_array_size = max_array_size
        #: Whether polls use ``squeue --only-job-state`` (None: not probed yet).
        self.states_only: bool | None = None
        self._states_checked = False
        #: Arrays this object submitted, by job id: their size (a whole one cancels by id).
        self._array_sizes: dict[str, int] = {}

    # --- plumbing ---------------------------------------------------------------------------

    def _run(self, argv: Sequence[str]) -> CommandResult:
        COMMAND_COUNTS[argv[0]] += 1
        try:
            return self.transport.run(argv, timeout=self.timeout_s)
        except TransportError as exc:
            if exc.transient:  # timed out: the controller is slow or gone, not the job
                raise SchedulerUnavailable(str(exc)) from exc
            raise

    def _check(self, result: CommandResult) -> None:
        if result.ok:
            return
        if P.is_controller_down(result.stderr):
            raise SchedulerUnavailable(result.describe())
        raise SchedulerError(result.describe())

    def _write(self, out: Mapping[Path, str]) -> None:
        if self.write_files is not None:
            try:
                self.write_files(out)
            except TransportError as exc:
                if exc.transient:
                    raise SchedulerUnavailable(str(exc)) from exc
                raise
            return
        for path, text in out.items():
            self.write_file(path, text)

    def max_array_size(self) -> int:
        """The cluster's MaxArraySize, asked once per scheduler object."""
        if self._max_array_size is None:
            result = self._run(A.scontrol_config_argv())
            self._check(result)
            config = P.parse_scontrol_config(result.stdout)
            self._max_array_size = P.parse_max_array_size(config)
        return self._max_array_size

    # --- protocol ---------------------------------------------------------------------------

    def submit(self, job: JobRequest) -> SubmittedJob:
        """Write the script and task list into ``job.workdir``, then sbatch each chunk.

        If a later chunk is refused, the earlier chunks are cancelled so a retry starts clean.
        """
        tag = validate_tag(job.tag)
        count = len(job.tasks)
        if count == 0:
            raise SchedulerError(f"job {tag}: nothing to submit (no tasks)")
        is_array = count > 1
        workdir = Path(job.workdir)
        command = runtime_command(job)
        if command is not None:  # no shell needed: the script is the runtime's own program
            script = workdir / f"hpcflow-{tag}.py"
            out = {script: render_python_script(job, command, is_array=is_array)}
        else:
            script = workdir / f"hpcflow-{tag}.sh"
            out = _bash_job_files(job, script, is_array=is_array)
        self._write(out)
        chunk = self.max_array_size() if is_array else 1
        task_ids: list[str] = []
        for offset in range(0, count, chunk):
            size = min(chunk, count - offset)
            argv = A.sbatch_argv(
                str(script),
                workdir=str(workdir),
                array=A.array_spec(size, job.parallelism) if is_array else None,
                offset=offset,
                extra_options=job.resources.extra_options,
                depends_on=job.depends_on,
            )
            try:
                job_id = self._sbatch(argv)
            except SchedulerError:
                if task_ids:
                    self.cancel(task_ids)
                raise
            task_ids.extend([f"{job_id}_{i}" for i in range(size)] if is_array else [job_id])
            if is_array:
                self._array_sizes[job_id] = size
        return SubmittedJob(tag=tag, task_ids=tuple(task_ids))

    def _sbatch(self, argv: list[str]) -> str:
        result = self._run(argv)
        if not result.ok:
            if P.is_submit_limit(result.stderr):
                raise SubmissionDeferred(result.describe())
            self._check(result)
        return P.parse_sbatch(result.stdout)

    def poll(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        """One squeue for all ids, nothing else: one status command per poll.

        squeue ``-t all`` still shows tasks that ended within MinJobAge; ids the queue no
        longer holds are UNKNOWN ("not in the queue"), never FAILED: the exit record decides,
        and :meth:`describe` asks accounting about the few that leave no record.
        """
        found, missing = self._in_queue(task_ids)
        gone = JobStatus(JobState.UNKNOWN, None, "not in the queue")
        return {**found, **dict.fromkeys(missing, gone)}

    def _full_status(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        """squeue for all ids, then one sacct only for ids the queue no longer holds.
        Without accounting those are UNKNOWN, never FAILED."""
        status, missing = self._in_queue(task_ids)
        if missing:
            acct, note = self._sacct(missing)
            for tid in missing:
                row = _lookup(acct, tid)
                status[tid] = (
                    _status(row)
                    if row is not None
                    else JobStatus(JobState.UNKNOWN, None, f"not in the queue; {note}")
                )
        return status

    def _in_queue(self, task_ids: Sequence[str]) -> tuple[dict[str, JobStatus], list[str]]:
        """One squeue for ``task_ids``: the statuses of those the queue holds (the tasks of
        one row, a pending range, share one status) and the ids it no longer holds."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return {}, []
        queue = self._queue_states(ids)
        shared: dict[int, JobStatus] = {}
        found: dict[str, JobStatus] = {}
        missing: list[str] = []
        for tid in ids:
            row = _lookup(queue, tid)
            if row is None:
                missing.append(tid)
                continue
            status = shared.get(id(row))
            if status is None:
                status = shared[id(row)] = _status(row)
            found[tid] = status
        return found, missing

    def _squeue(self, job_ids: Sequence[str] | None, states_only: bool = False) -> dict[str, P.QueueRow]:
        """This user's queue by task id (the tasks of a pending range share one row)."""
        result = self._run(A.squeue_argv(job_ids, states_only=states_only))
        if not result.ok and job_ids and P.is_invalid_job_id(result.stderr):
            return {}  # none of the ids is known to the controller any more
        self._check(result)
        return P.squeue_states_index(result.stdout) if states_only else P.squeue_index(result.stdout)

    def _queue_states(self, job_ids: Sequence[str]) -> dict[str, P.QueueRow]:
        """The queue's rows for ``job_ids``, with ``--only-job-state`` where squeue has it.

        That answer has no exit codes, reasons or nodes (the exit records carry them). The
        first one is checked against a full query; any refusal or disagreement turns the
        option off for good, and the full query answers.
        """
        if self.states_only is None:
            self.states_only = A.supports_only_job_state(self.slurm_version())
        if not self.states_only:
            return self._squeue(job_ids)
        try:
            rows = self._squeue(job_ids, states_only=True)
        except SchedulerUnavailable:
            raise
        except SchedulerError:
            self.states_only = False
            return self._squeue(job_ids)
        if not self._states_checked:
            full = self._squeue(job_ids)
            self._states_checked = True
            if rows.keys() != full.keys():
                self.states_only = False
                return full
        return rows

    def describe(self, task_ids: Sequence[str]) -> Mapping[str, JobStatus]:
        """Full statuses (exit codes, reasons, nodes) whatever ``poll`` asks for: what the
        engine tells about a job that vanished without an exit record."""
        saved, self.states_only = self.states_only, False
        try:
            return self._full_status(task_ids)
        finally:
            self.states_only = saved

    def slurm_version(self) -> tuple[int, int] | None:
        """(major, minor) of the Slurm client, from ``squeue --version`` (no controller
        request; counted apart from the queries); None if it cannot be read."""
        COMMAND_COUNTS["squeue --version"] += 1
        try:
            result = self.transport.run(A.squeue_version_argv(), timeout=self.timeout_s)
        except TransportError:
            return None
        return P.parse_slurm_version(result.stdout) if result.ok else None

    def _sacct(
        self, job_ids: Sequence[str] | None, since: str | None = None
    ) -> tuple[dict[str, P.QueueRow], str]:
        """Accounting rows by task id, or ``({}, why)`` when accounting cannot answer."""
        result = self._run(A.sacct_argv(job_ids, since=since))
        if not result.ok:
            if P.is_accounting_disabled(result.stderr):
                return {}, "accounting is disabled"
            return {}, f"accounting did not answer: {result.describe()}"
        return {row.task_id: row for row in P.parse_sacct(result.stdout)}, "not in accounting"

    def cancel(self, task_ids: Sequence[str]) -> None:
        """One scancel for all ids, collapsed (``123``, ``123_[0-99]``); ids Slurm no longer
        knows are ignored."""
        ids = A.collapse_task_ids(list(dict.fromkeys(task_ids)), self._array_sizes)
        if not ids:
            return
        result = self._run(A.scancel_argv(ids))
        if result.ok:
            return
        harmless = ("invalid job id", "already completing or completed", "job/step already")
        lines = [ln.lower() for ln in result.stderr.splitlines() if ln.strip()]
        if lines and all(any(h in ln for h in harmless) for ln in lines):
            return
        self._check(result)

    def adopt(self, tags: Sequence[str]) -> Mapping[str, SubmittedJob]:
        """Find this user's jobs whose comment or name carries one of ``tags``.

        Task ids come back in submission order (job id, then array index). Jobs that left
        both the queue and accounting (or ran before ``adopt_lookback``) cannot be found.
        """
        wanted = {validate_tag(t) for t in tags}
        if not wanted:
            return {}
        found: dict[str, set[str]] = {}
        for task, row in self._squeue(None).items():
            tag = tag_of(row.name, row.comment)
            if tag in wanted:
                found.setdefault(tag, set()).add(task)
        since = (datetime.now() - self.adopt_lookback).strftime("%Y-%m-%dT%H:%M:%S")
        acct, _ = self._sacct(None, since=since)
        for row in acct.values():
            tag = tag_of(row.name, row.comment)
            if tag in wanted:
                found.setdefault(tag, set()).add(row.task_id)
        result = {}
        for tag, ids in found.items():
            # A bare id next to its own array tasks is the array's remainder record, not a task.
            arrays = {P.base_job_id(t) for t in ids if "_" in t}
            kept = sorted((t for t in ids if "_" in t or t not in arrays), key=_task_sort_key)
            result[tag] = SubmittedJob(tag=tag, task_ids=tuple(kept))
        return result


def _lookup(rows: Mapping[str, P.QueueRow], task_id: str) -> P.QueueRow | None:
    """The row for ``task_id``; for ``123_4`` also the array's own record ``123``.

    When every not-yet-started task of an array is cancelled, Slurm shows them as one record
    under the bare array id (``123 CANCELLED``), no longer as ``123_[4-9]``.
    """
    row = rows.get(task_id)
    if row is None and "_" in task_id:
        row = rows.get(P.base_job_id(task_id))
    return row


def _status(row: P.QueueRow) -> JobStatus:
    return JobStatus(row.state, row.exit_code, row.reason, row.node)


def _bash_job_files(job: JobRequest, script: Path, *, is_array: bool) -> dict[Path, str]:
    """A bash batch script and the argv it reads: one file for an array whose tasks differ
    only by their index (the number appended), else one file per task in a directory."""
    shared = shared_argv(job.tasks)
    if shared is not None:
        tasks = script.with_suffix(".argv")
        out = {tasks: render_task_list([shared])[0]}
    else:
        tasks = script.with_suffix(".tasks")
        out = {tasks / str(i): content for i, content in enumerate(render_task_list(job.tasks))}
    out[script] = render_script(job, tasks_file=tasks.name, is_array=is_array)  # written last
    return out
