"""Run one unit: stage inputs, execute the OP or script, record outputs and the exit record.

Every job of every slice imports this module, so what only some units need (subprocess for
scripts, traceback for failures, S3, hashing, ``pathlib`` for artifacts) is imported where
it is used; the unit's directories are ``str`` paths handled with ``os.path``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpcflow import frozen
from hpcflow.errors import CorruptRecord
from hpcflow.node_settings import dflow_options
from hpcflow.pathtypes import is_path_type
from hpcflow.runtime import records as rec
from hpcflow.runtime.loader import OPLoadError, load_op
from hpcflow.spec.model import TaskRecord

if TYPE_CHECKING:
    from pathlib import Path

    from hpcflow.runtime.records import StrPath


class StepTimeout(BaseException):
    """Raised inside the OP when the step's timeout expires (a BaseException, so that an
    OP's ``except Exception:`` cannot swallow it and run on past its timeout)."""


class OutputError(Exception):
    """The OP finished but an output is missing or malformed."""


def run_unit(unit_dir: StrPath, task: Mapping[str, Any] | None = None,
             merged_log: StrPath | None = None) -> bool:
    """Run the unit in ``unit_dir``; return True on success. Never raises.

    ``task`` (a task record's JSON) comes from the job's task list (the unit directory is
    then created here, when the unit starts); without it the unit directory must exist and hold ``task.json`` (the
    layout of attempts prepared before task lists, and of Kubernetes pods). A unit that
    succeeds leaves only its exit record (outputs inside) and, if the OP wrote any, its
    ``work`` directory; its log goes to ``merged_log`` when given. A failed unit keeps all.
    """
    unit_dir = os.path.join(os.getcwd(), unit_dir)  # absolute (unchanged when it is)
    raw = task
    try:
        if raw is not None:
            os.makedirs(unit_dir, exist_ok=True)
    except OSError as exc:
        print(f"hpcflow: cannot create the attempt directory {unit_dir}: {exc}", file=sys.stderr)
        return False
    unit_dir = os.path.realpath(unit_dir)
    if not os.path.isdir(unit_dir):  # nowhere to write a log or an exit record: say so in the job's log
        print(f"hpcflow: the attempt directory {unit_dir} does not exist (deleted?)", file=sys.stderr)
        return False
    started = time.time()
    work = os.path.join(unit_dir, rec.WORK_DIR)
    record: dict[str, Any] = {"host": os.uname().nodename, "pid": os.getpid(), "started_at": started}
    exit_writer = rec.ExitRecordWriter(unit_dir)  # holds the record's disk space from now on
    old_cwd = os.getcwd()
    log_path = os.path.join(unit_dir, rec.LOG_FILE)
    saved_fds = _redirect_output(log_path)
    label = ""
    try:
        if raw is None:
            unit = _read_task(os.path.join(unit_dir, rec.TASK_FILE))
        else:
            unit = _parse_task(raw, f"the task list entry of {unit_dir}")
        label = unit.step
        if unit.deferred:  # chained or fused: the producers' outputs are read now
            from hpcflow.runtime.deferred import resolve

            unit = resolve(unit)
        os.makedirs(work, exist_ok=True)
        os.chdir(work)
        if dflow_options().alias:  # submitted under `hpcflow exec`: the job resolves dflow too
            from hpcflow.compat.alias import install

            install()
        runner = _run_python if unit.template.kind == "python" else _run_script
        store = _object_store(unit)
        if store is not None:  # fetch s3:// inputs to scratch; publish outputs afterwards
            unit = frozen.replace(unit, artifacts=_fetch_inputs(unit, store, _scratch(unit_dir)))
        elif unit.input_hashes:  # shared filesystem: inputs must be what their producers recorded
            from hpcflow.runtime import integrity

            integrity.verify_inputs(unit)
        outputs = runner(unit, work)
        if store is not None:
            from hpcflow.storage import remote

            prefix = unit.artifact_prefix or os.path.basename(unit_dir)
            outputs["artifacts"] = {k: remote.publish(store, v, f"{prefix}/{k}")
                                    for k, v in outputs["artifacts"].items()}
        elif outputs["artifacts"]:  # shared filesystem: record content hashes (S3 manifests carry their own)
            from hpcflow.runtime import integrity

            outputs["hashes"] = integrity.record_outputs(outputs["artifacts"])
        else:
            outputs["hashes"] = {}
        if len(json.dumps(outputs, ensure_ascii=False)) <= rec.INLINE_OUTPUTS_MAX:
            record["outputs"] = outputs  # in the exit record: one file, written once
        else:  # too big for the space held for the exit record
            rec.write_json_atomic(os.path.join(unit_dir, rec.OUTPUTS_FILE), outputs)
        record.update(status="succeeded", kind=None, message="")
    except BaseException as exc:  # every failure ends in an exit record
        import traceback

        from hpcflow.runtime.fserrors import describe

        record.pop("outputs", None)
        record.update(status="failed", kind=_kind(exc), message=describe(exc, unit_dir),
                      traceback=traceback.format_exc())
        try:
            print(record["traceback"], file=sys.stderr)
        except OSError:  # the log's filesystem is full: the exit record still says why
            pass
    finally:
        os.chdir(old_cwd)
        _restore_output(saved_fds)
    ok = record["status"] == "succeeded"
    if ok:
        record.update(rec.tidy_succeeded(unit_dir, merged_log, label))
    record["finished_at"] = time.time()
    try:
        exit_writer.write(record)
    except OSError:
        if os.path.isdir(unit_dir):
            raise
        # Said in the job's log, which the engine quotes when no exit record appears.
        print(f"hpcflow: the attempt directory {unit_dir} was deleted before its exit record "
              "was written", file=sys.stderr)
        return False
    if ok:
        rec.drop_unit_log(unit_dir, record)
    return bool(ok)


def _read_task(path: str) -> TaskRecord:
    """The unit's task record; a missing or damaged one is an error naming the file."""
    data = rec.read_json(path)
    if data is None:
        raise OPLoadError(f"{path} is missing")
    return _parse_task(data, str(path))


def _parse_task(data: Any, where: str) -> TaskRecord:
    try:
        return TaskRecord.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OPLoadError(f"{where} is not a task record ({type(exc).__name__}: {exc})") from exc


def _object_store(task: TaskRecord) -> Any:
    """The S3 store of an S3 site (imported only then: boto3 is heavy)."""
    settings = task.storage
    if not settings or settings.get("kind") != "s3":
        return None
    from hpcflow.storage import remote

    return remote.open_store(settings)


def _fetch_inputs(task: TaskRecord, store: Any, scratch: Path) -> dict[str, Any]:
    """Download the s3:// inputs; a copy that fails its manifest check names the step."""
    from hpcflow.errors import ChecksumMismatch
    from hpcflow.storage import remote

    try:
        return {k: remote.fetch(store, v, scratch / k) for k, v in task.artifacts.items()}
    except ChecksumMismatch as exc:
        raise ChecksumMismatch(f"step {task.step or '?'}: {exc}") from exc


def _scratch(unit_dir: str) -> Path:
    """Node-local scratch for fetched inputs ($HPCFLOW_SCRATCH, $TMPDIR or /tmp)."""
    import tempfile
    from pathlib import Path  # S3 units only

    from hpcflow.node_settings import node_options

    prefix = f"hpcflow-{os.path.basename(os.path.dirname(unit_dir))}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=node_options().scratch))


def _kind(exc: BaseException) -> str:
    from hpcflow.errors import ChecksumMismatch
    from hpcflow.python.op import FatalError, TransientError

    if isinstance(exc, StepTimeout):
        return rec.KIND_TIMEOUT
    if isinstance(exc, TransientError):
        return rec.KIND_TRANSIENT
    if isinstance(exc, FatalError):
        return rec.KIND_FATAL
    if isinstance(exc, OPLoadError):
        return rec.KIND_LOAD
    if isinstance(exc, ChecksumMismatch):  # the input stays changed: a retry cannot help
        return rec.KIND_FATAL
    if isinstance(exc, CorruptRecord):
        return rec.KIND_FATAL  # the same attempt cannot get better; `hpcflow retry` makes a new one
    return rec.KIND_ERROR


def _redirect_output(log: str) -> tuple[int, int]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return saved


def _restore_output(saved: tuple[int, int]) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a full filesystem under the log: what was not written is lost
            pass
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])


class _Alarm:
    """Raise StepTimeout in the OP after ``seconds`` (SIGALRM; the scheduler kills as backstop)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        if self.seconds:
            import signal  # only a step with a timeout pays for the module's enums

            signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))

    def _fire(self, *_: Any) -> None:
        raise StepTimeout(f"the step exceeded its timeout of {self.seconds:g} s")

    def __exit__(self, *exc: Any) -> None:
        if self.seconds:
            import signal

            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)


# ------------------------------------------------------------------------------ Python OPs


def _run_python(task: TaskRecord, work: str) -> dict[str, Any]:
    from hpcflow import codec
    from hpcflow.python.op import check_inputs, check_outputs, op_display_name
    from hpcflow.python.opio import OPIO, Artifact, as_sign

    tmpl = task.template
    os.environ.update(tmpl.envs)
    hooks = _hooks(task, work)
    with _Alarm(tmpl.timeout):  # the step's timeout covers its pre- and post_script
        if hooks is not None:
            hooks.run("pre_script")  # before the OP is imported, as at the top of Dflow's script
        if task.op is None:
            raise OPLoadError(f"the task record of step {task.step} names no OP")
        op = load_op(dict(task.op), list(tmpl.python_packages))
        cls = type(op)
        name = op_display_name(cls)
        in_sign = as_sign(cls.get_input_sign())
        op_in = OPIO()
        for key, value in task.parameters.items():
            spec = in_sign.get(key)
            op_in[key] = _coerce_param(codec.decode(value), getattr(spec, "type", None))
        for key, value in task.artifacts.items():
            spec = in_sign.get(key)
            op_in[key] = _as_artifact(value, spec.type if isinstance(spec, Artifact) else None)
        if task.slice_index is not None:
            op.slices = {"index": task.slice_index}
        if getattr(cls.execute, "_hpcflow_checked", False):
            op_out = op.execute(op_in)
        else:  # an OP without @OP.exec_sign_check is checked all the same
            op_out = check_outputs(name, cls.get_output_sign(), op.execute(check_inputs(name, in_sign, op_in)))
        if hooks is not None:
            hooks.run("post_script", op_obj=op, input=op_in, output=op_out)
    out_sign = as_sign(cls.get_output_sign())
    params, arts = {}, {}
    for key, value in op_out.items():
        if isinstance(out_sign.get(key), Artifact):
            arts[key] = _absolute_artifact(name, key, value, work)
        else:
            params[key] = codec.encode(value)
    return {"parameters": params, "artifacts": arts}


def _hooks(task: TaskRecord, work: str) -> Any:
    """The unit's pre_script/post_script, or None (a step without hooks does not import them)."""
    if not (task.template.pre_script or task.template.post_script):
        return None
    from hpcflow.runtime.hooks import Hooks

    return Hooks(task.template, task.step or "?", work)


def _coerce_param(value: Any, tp: Any) -> Any:
    """Argo-style string values ("3", "[1, 2]") become the declared type, as in Dflow."""
    if isinstance(value, str) and tp not in (None, str, Any) and not is_path_type(tp):
        from hpcflow.python.typecheck import check_type

        if not check_type(value, tp):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value


def _as_artifact(value: Any, tp: Any) -> Any:
    """Paths as the OP declared them (``tp``; None: ``Path``): ``str`` or ``Path`` leaves,
    list / set / dict kept."""
    from pathlib import Path  # input artifacts only (their OPs import pathlib themselves)
    from typing import get_args, get_origin

    if value is None:
        return None
    args = get_args(tp)
    leaf = args[-1] if args else tp
    as_str = leaf is str
    if isinstance(value, list):
        items = [v if as_str else Path(v) for v in value]
        return set(items) if get_origin(tp) in (set, frozenset) or tp in (set, frozenset) else items
    if isinstance(value, dict):
        return {k: _as_artifact(v, leaf) for k, v in value.items()}
    return value if as_str else Path(value)


def _absolute_artifact(op: str, key: str, value: Any, work: str) -> Any:
    from pathlib import Path  # output artifacts only

    if value is None:
        return None
    if isinstance(value, (list, tuple, set)):
        return [_absolute_artifact(op, key, v, work) for v in value]
    if isinstance(value, dict):
        return {k: _absolute_artifact(op, key, v, work) for k, v in value.items()}
    path = Path(value)
    path = path if path.is_absolute() else Path(work) / path
    if not path.exists():
        raise OutputError(f"OP {op}: output artifact {key!r} names {path}, which does not exist")
    return str(path)


def _run_script(task: TaskRecord, work: str) -> dict[str, Any]:
    from hpcflow.runtime.scripts import run_script  # script units only

    return run_script(task, work)
