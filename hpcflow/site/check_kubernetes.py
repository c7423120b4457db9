"""``hpcflow site check`` on a Kubernetes site: the API, the namespace, what we may do, S3.

Each probe is one line of the report, read-only on the cluster (a SelfSubjectAccessReview
asks the API server what we may do without doing it); the S3 probe writes and reads back
one small object under ``_k8s/check/``.
"""

from __future__ import annotations

import uuid
from typing import Any

from hpcflow.errors import HpcflowError

#: (verb, resource, API group) the backend needs.
PERMISSIONS = (
    ("create", "jobs", "batch"),
    ("list", "jobs", "batch"),
    ("delete", "jobs", "batch"),
    ("list", "pods", ""),
    ("create", "configmaps", ""),
)


def check_kubernetes(site: Any, report: Any, api: Any = None, store: Any = None) -> None:
    """Add the Kubernetes probes of ``site`` to ``report`` (a :class:`SiteReport`)."""
    k = site.kubernetes
    try:
        if api is None:
            from hpcflow.scheduler.kubernetes.api import KubeApi, make_api_client

            api = KubeApi(make_api_client(k.kubeconfig, k.context), k.namespace, timeout_s=15)
        version = api.version()
    except HpcflowError as exc:
        report.add("kubernetes API", False, str(exc))
        _s3(site, report, store)
        return
    report.add("kubernetes API", True, f"{version.get('gitVersion', '?')}")
    minor = int("".join(c for c in str(version.get("minor", "0")) if c.isdigit()) or 0)
    if k.per_index_retries and str(version.get("major")) == "1" and minor < 29:
        report.add("backoffLimitPerIndex", False, f"server 1.{minor} lacks it: set per_index_retries = false")
    try:
        api.read_namespace()
        report.add("namespace", True, k.namespace)
    except HpcflowError as exc:
        report.add("namespace", False, f"{k.namespace}: {exc}")
        _s3(site, report, store)
        return
    refused = []
    for verb, resource, group in PERMISSIONS:
        try:
            allowed, reason = api.can_i(verb, resource, group)
        except HpcflowError as exc:
            report.add("permissions", False, str(exc))
            break
        if not allowed:
            refused.append(f"{verb} {resource}" + (f" ({reason})" if reason else ""))
    else:
        detail = ", ".join(f"{v} {r}" for v, r, _ in PERMISSIONS)
        report.add("permissions", not refused, f"refused: {'; '.join(refused)}" if refused else detail)
    _s3(site, report, store)


def _s3(site: Any, report: Any, store: Any) -> None:
    key = f"_k8s/check/{uuid.uuid4().hex}"
    try:
        if store is None:
            from hpcflow.storage.remote import open_store

            store = open_store(site.storage.model_dump())
        store.put_bytes(key, b"hpcflow site check")
        ok = store.get_bytes(key) == b"hpcflow site check"
        report.add("S3 store", ok, f"s3://{store.bucket}/{store.object_name(key)} written and read back"
                   if ok else "the object read back differs")
    except HpcflowError as exc:
        report.add("S3 store", False, str(exc))
