"""Kubernetes manifests as plain dicts: pure functions of a job request and the site.

A sliced step is one Indexed Job (``completionMode: Indexed``, Kubernetes' job array):
pod ``i`` gets ``JOB_COMPLETION_INDEX=i`` and runs the units of task ``i``. hpcflow
reaches the pod as a zip in a ConfigMap mounted read-only at :data:`LIB_MOUNT` and put on
``PYTHONPATH`` (Python imports from a zip), so a step image needs nothing but Python 3.
Checked against the Kubernetes OpenAPI schemas by ``kubernetes-validate --strict`` in
the tests (the versions are named in the README).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from hpcflow.runtime.pod import ENV_STORAGE, ENV_TASKS
from hpcflow.scheduler.base import JobRequest
from hpcflow.scheduler.kubernetes.settings import KubeSettings

#: Where the hpcflow zip is mounted: the directory the test image (and the Apptainer
#: images hpcflow binds into) already has; Kubernetes creates mount points anyway.
LIB_MOUNT = "/hpcflow/pkgs/0"
LIB_ZIP = "hpcflow-lib.zip"
MANAGED_BY = "app.kubernetes.io/managed-by"
OWNER = "hpcflow.io/owner"
TAG = "hpcflow.io/tag"
STEP = "hpcflow.io/step"
TAG_ANNOTATION = "hpcflow.io/attempt-tag"
TASKS_ANNOTATION = "hpcflow.io/tasks"
CONTAINER = "step"

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def label_hash(text: str, size: int = 20) -> str:
    """A label value for any text (labels allow 63 characters of [A-Za-z0-9_.-])."""
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def job_name(tag: str, step: str) -> str:
    """``hpcflow-<step>-<hash of the tag>``: readable in ``kubectl get jobs``, unique, at
    most 52 characters (the Job controller appends ``-<index>-<random>`` to pod names)."""
    readable = _NOT_DNS.sub("-", step.lower()).strip("-")[:24].strip("-") or "step"
    return f"hpcflow-{readable}-{label_hash(tag, 16)}"


def selector(owner: str) -> str:
    """The label selector of every Job and Pod of one engine (one LIST each per tick)."""
    return f"{MANAGED_BY}=hpcflow,{OWNER}={owner}"


def pod_resources(request: JobRequest) -> dict[str, Any]:
    """requests/limits from the step's resources; GPUs as ``nvidia.com/gpu`` limits."""
    r = request.resources
    requests: dict[str, str] = {}
    limits: dict[str, Any] = {}
    if r.cpus:
        requests["cpu"] = str(r.cpus)
    if r.memory_mb:
        requests["memory"] = limits["memory"] = f"{r.memory_mb}Mi"
    if r.gpus:
        limits["nvidia.com/gpu"] = str(r.gpus)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def active_deadline_s(request: JobRequest, settings: KubeSettings) -> int | None:
    """A bound on the whole Job: each wave of ``parallelism`` pods gets the step's time limit,
    plus the time a pod may wait unschedulable (the runtime enforces each unit's timeout)."""
    limit = request.resources.time_limit_s
    if not limit:
        return None
    count = len(request.tasks)
    parallel = min(count, request.parallelism or count)
    waves = -(-count // parallel)
    return int(limit * waves + settings.unschedulable_timeout_s)


def pod_storage(storage: Mapping[str, Any]) -> dict[str, Any]:
    """The storage settings a pod gets: no credentials file (a path on the login node)."""
    keys = ("kind", "endpoint_url", "bucket", "prefix", "region", "multipart_threshold_mb")
    return {k: storage.get(k) for k in keys if storage.get(k) is not None}


def job_manifest(request: JobRequest, settings: KubeSettings, *, owner: str, tasks_key: str,
                 lib_configmap: str) -> dict[str, Any]:
    """The Indexed Job of ``request``."""
    name = job_name(request.tag, request.step or request.name)
    labels = {MANAGED_BY: "hpcflow", OWNER: owner, TAG: label_hash(request.tag),
              STEP: label_hash(request.step or request.name, 16)}
    count = len(request.tasks)
    image = request.image or ""
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.images.get(image, image),
        "imagePullPolicy": settings.image_pull_policy,
        "command": [settings.python, "-m", "hpcflow.runtime.pod"],
        "env": [
            {"name": ENV_TASKS, "value": tasks_key},
            {"name": ENV_STORAGE, "value": json.dumps(pod_storage(settings.storage), sort_keys=True)},
            {"name": "PYTHONPATH", "value": f"{LIB_MOUNT}/{LIB_ZIP}"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            {"name": "HOME", "value": "/tmp"},
        ],
        "envFrom": [{"secretRef": {"name": settings.s3_secret}}],
        "volumeMounts": [{"name": "hpcflow-lib", "mountPath": LIB_MOUNT, "readOnly": True}],
    }
    resources = pod_resources(request)
    if resources:
        container["resources"] = resources
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",  # retries are per index (backoffLimitPerIndex), never in place
        "containers": [container],
        "volumes": [{"name": "hpcflow-lib", "configMap": {"name": lib_configmap}}],
    }
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    if settings.node_selector:
        pod_spec["nodeSelector"] = dict(settings.node_selector)
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": count,
        "parallelism": min(count, request.parallelism or count),
        "ttlSecondsAfterFinished": settings.ttl_s,
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    if settings.per_index_retries:
        spec["backoffLimitPerIndex"] = settings.backoff_limit_per_index
    else:  # servers before 1.29: one budget for the whole Job
        spec["backoffLimit"] = settings.backoff_limit_per_index * count
    deadline = active_deadline_s(request, settings)
    if deadline:
        spec["activeDeadlineSeconds"] = deadline
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": {TAG_ANNOTATION: request.tag, TASKS_ANNOTATION: tasks_key},
        },
        "spec": spec,
    }


def lib_configmap(name: str, namespace: str, owner: str, zip_bytes: bytes) -> dict[str, Any]:
    """The ConfigMap that carries hpcflow to the pods (immutable: one per version)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {MANAGED_BY: "hpcflow", OWNER: owner}},
        "immutable": True,
        "binaryData": {LIB_ZIP: base64.b64encode(zip_bytes).decode()},
    }
