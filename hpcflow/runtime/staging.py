"""Where a Kubernetes job's units live in S3 (shared by the engine and the pods).

Keys are relative to the site's storage prefix::

    _k8s/jobs/<job name>/tasks.json        the units of each index, the pool size, shipped files
    _k8s/files/<sha256>.<name>             a shipped file (a pickled OP), once per content
    _k8s/units/<unit>/task.json            the unit's task record (as in the attempt directory)
    _k8s/units/<unit>/{log.txt,outputs.json,exit.json}   written by the pod, exit record last
    _k8s/units/<unit>/withdrawn            the engine sent the unit back to its home site

``<unit>`` is the attempt directory's path below the work root, so every attempt has
its own keys.
"""

from __future__ import annotations

import json
from typing import Any

ROOT = "_k8s"
WITHDRAWN = "withdrawn"


def tasks_key(job_name: str) -> str:
    return f"{ROOT}/jobs/{job_name}/tasks.json"


def unit_key(relative_dir: str) -> str:
    return f"{ROOT}/units/{relative_dir.strip('/')}"


def file_key(digest: str, name: str) -> str:
    return f"{ROOT}/files/{digest[:32]}.{name}"


def record_key(unit: str, name: str) -> str:
    return f"{unit}/{name}"


def read_json(store: Any, key: str) -> Any | None:
    data = store.get_bytes(key)
    return None if data is None else json.loads(data)


def write_json(store: Any, key: str, value: Any) -> None:
    store.put_bytes(key, json.dumps(value, ensure_ascii=False).encode())
