"""Entry point of a Kubernetes pod: ``python3 -m hpcflow.runtime.pod``.

A pod does not see the login node's filesystem, so the engine stages each unit's
``task.json`` (and the pickled OP it names) in S3, and this module plays the part of the
shared filesystem: it reads the job's task list, takes the units of its index
(``$JOB_COMPLETION_INDEX``), fetches their task records to local scratch, runs them with
the ordinary runtime, and publishes each unit's log, outputs and exit record back to S3,
the exit record last. The engine mirrors those records into the attempt directories.

Exit status: 0 once every unit's exit record is published (the records carry success or
failure, and the engine retries what they say may be retried), non-zero only when a
record could not be published, so that Kubernetes retries the index
(``backoffLimitPerIndex``). A unit whose exit record is already in S3 (a rerun of the
index) or that the engine withdrew (sent back to its home site) is not run again.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hpcflow import frozen
from hpcflow.runtime import records as rec
from hpcflow.runtime import staging
from hpcflow.spec.model import TaskRecord

ENV_TASKS = "HPCFLOW_POD_TASKS"
ENV_STORAGE = "HPCFLOW_POD_STORAGE"
ENV_INDEX = "JOB_COMPLETION_INDEX"


def main() -> int:
    from hpcflow.node_settings import node_options, pod_options

    try:
        tasks_key, storage_json, index_text = pod_options()
        storage, index = json.loads(storage_json), int(index_text)
    except (KeyError, ValueError) as exc:
        print(f"hpcflow pod: bad environment ({exc}); expected {ENV_STORAGE}, {ENV_TASKS}, "
              f"{ENV_INDEX}", file=sys.stderr)
        return 2
    from hpcflow.storage.remote import open_store

    store = open_store(storage)
    job = staging.read_json(store, tasks_key)
    if job is None:
        print(f"hpcflow pod: no task list at {tasks_key}", file=sys.stderr)
        return 3
    units = job["tasks"][index]
    scratch = Path(tempfile.mkdtemp(prefix=f"hpcflow-pod-{index}-", dir=node_options().scratch))
    todo = []
    for n, unit in enumerate(units):
        key = unit["key"]
        if store.get_bytes(staging.record_key(key, rec.EXIT_FILE)) is not None:
            continue  # an earlier pod of this index finished it
        if store.get_bytes(staging.record_key(key, staging.WITHDRAWN)) is not None:
            print(f"hpcflow pod: {unit['dir']} was sent back to its home site; not run")
            continue
        local = scratch / f"unit-{n}"
        stage_unit(store, key, local, job.get("files") or {}, scratch / "files")
        todo.append((key, local))
    run_units([local for _, local in todo], int(job.get("pool") or 1))
    for key, local in todo:
        publish_records(store, key, local)
    return 0


def stage_unit(store: Any, key: str, local: Path, files: dict[str, str], file_dir: Path) -> None:
    """``task.json`` of the unit at ``key`` into ``local``, its shipped files localised."""
    data = staging.read_json(store, staging.record_key(key, rec.TASK_FILE))
    if data is None:
        raise FileNotFoundError(f"no task record at {staging.record_key(key, rec.TASK_FILE)}")
    task = TaskRecord.from_json(data)
    op = dict(task.op or {})
    shipped = op.get("pickle_file")
    if shipped in files:
        target = file_dir / Path(files[shipped]).name
        if not target.exists():
            file_dir.mkdir(parents=True, exist_ok=True)
            content = store.get_bytes(files[shipped])
            if content is None:
                raise FileNotFoundError(f"shipped file {files[shipped]} is missing")
            target.write_bytes(content)
        op["pickle_file"] = str(target)
        task = frozen.replace(task, op=op)
    local.mkdir(parents=True)
    rec.write_json_atomic(local / rec.TASK_FILE, task.to_json())


def run_units(dirs: list[Path], pool: int) -> None:
    from hpcflow.runtime.group import main as run_group

    if dirs:
        run_group((["--pool", str(pool)] if pool > 1 else []) + [str(d) for d in dirs])


def publish_records(store: Any, key: str, local: Path) -> None:
    """Log and outputs first, the exit record last: once it is there, the rest is."""
    for name in (rec.LOG_FILE, rec.OUTPUTS_FILE):
        path = local / name
        if path.exists():
            store.put_bytes(staging.record_key(key, name), path.read_bytes(),
                            "text/plain" if name == rec.LOG_FILE else "application/json")
    exit_path = local / rec.EXIT_FILE
    record = rec.read_json(exit_path) or {"status": "failed", "kind": rec.KIND_ERROR,
                                          "message": "the runtime ended without an exit record"}
    record.setdefault("host", os.environ.get("HOSTNAME", ""))
    store.put_bytes(staging.record_key(key, rec.EXIT_FILE), json.dumps(record).encode())


if __name__ == "__main__":
    sys.exit(main())
