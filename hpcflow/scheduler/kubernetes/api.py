"""The few Kubernetes API calls hpcflow makes, through the official ``kubernetes`` client.

Answers are read as JSON dicts (``_preload_content=False``): a LIST of a thousand pods is
parsed once, never turned into a thousand model objects. Every call is counted in
``calls`` (by verb and resource), which is what the tests and ``hpcflow tick`` report.
Errors become :class:`SchedulerUnavailable` (no answer, 5xx, 429: try again next tick) or
:class:`SchedulerError` (the server said no).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, cast

from hpcflow.errors import MissingExtra, SchedulerError, SchedulerUnavailable


class Gone(SchedulerError):
    """HTTP 410: the resourceVersion asked for is older than the server keeps."""


def _client_module() -> Any:
    try:
        import kubernetes
    except ImportError:
        raise MissingExtra("the kubernetes scheduler needs the kubernetes client: "
                           "pip install 'hpcflow[kubernetes]'") from None
    return kubernetes


def make_api_client(kubeconfig: str | None, context: str | None) -> Any:
    """An ApiClient from a kubeconfig file (or ``$KUBECONFIG``/``~/.kube/config``), else the
    in-cluster service account."""
    import os

    k = _client_module()
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if os.path.exists(path.split(os.pathsep)[0]):
        return k.config.new_client_from_config(config_file=path, context=context)
    if kubeconfig:
        raise SchedulerError(f"kubeconfig {kubeconfig} does not exist")
    configuration = k.client.Configuration()
    k.config.load_incluster_config(client_configuration=configuration)
    return k.client.ApiClient(configuration)


class KubeApi:
    """Namespaced Jobs, Pods, ConfigMaps; namespace lookup; access reviews."""

    def __init__(self, api_client: Any, namespace: str, timeout_s: float = 30.0) -> None:
        k = _client_module()
        self._exc = k.client.exceptions.ApiException
        self.batch = k.client.BatchV1Api(api_client)
        self.core = k.client.CoreV1Api(api_client)
        self.authz = k.client.AuthorizationV1Api(api_client)
        self.version_api = k.client.VersionApi(api_client)
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.calls: Counter[str] = Counter()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls[what] += 1
        try:
            resp = fn(*args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs)
        except self._exc as exc:
            status = exc.status or 0
            detail = _reason(exc)
            if status == 410:
                raise Gone(f"{what}: {detail}") from None
            if status in (0, 429) or status >= 500:
                raise SchedulerUnavailable(f"Kubernetes API {what}: HTTP {status} {detail}") from None
            error = SchedulerError(f"Kubernetes API {what}: HTTP {status} {detail}")
            error.status = status  # type: ignore[attr-defined]  # the HTTP status, for callers
            raise error from None
        except (OSError, Exception) as exc:  # urllib3 connection errors and timeouts
            if isinstance(exc, SchedulerError):
                raise
            raise SchedulerUnavailable(f"Kubernetes API {what}: {type(exc).__name__}: {exc}") from None
        return cast("dict[str, Any]", json.loads(resp.data)) if resp.data else {}

    # -- reads ------------------------------------------------------------------------
    def list_jobs(self, label_selector: str, resource_version: str | None = None) -> dict[str, Any]:
        return self._call("list jobs", self.batch.list_namespaced_job, self.namespace,
                          label_selector=label_selector, **_rv(resource_version))

    def list_pods(self, label_selector: str, resource_version: str | None = None) -> dict[str, Any]:
        return self._call("list pods", self.core.list_namespaced_pod, self.namespace,
                          label_selector=label_selector, **_rv(resource_version))

    def read_namespace(self) -> dict[str, Any]:
        return self._call("get namespace", self.core.read_namespace, self.namespace)

    def version(self) -> dict[str, Any]:
        return self._call("get version", self.version_api.get_code)

    def can_i(self, verb: str, resource: str, group: str = "") -> tuple[bool, str]:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": self.namespace, "verb": verb,
                                                "group": group, "resource": resource}}}
        answer = self._call("create selfsubjectaccessreview",
                            self.authz.create_self_subject_access_review, body)
        status = answer.get("status") or {}
        return bool(status.get("allowed")), status.get("reason") or ""

    # -- writes -----------------------------------------------------------------------
    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("create job", self.batch.create_namespaced_job, self.namespace, body)

    def delete_job(self, name: str) -> None:
        try:
            self._call("delete job", self.batch.delete_namespaced_job, name, self.namespace,
                       body={"propagationPolicy": "Background"})
        except SchedulerError as exc:
            if getattr(exc, "status", None) != 404:
                raise

    def ensure_configmap(self, body: dict[str, Any]) -> None:
        """Create it unless it exists (an immutable ConfigMap named by its content)."""
        try:
            self._call("create configmap", self.core.create_namespaced_config_map,
                       self.namespace, body)
        except SchedulerError as exc:
            if getattr(exc, "status", None) != 409:
                raise


def _rv(resource_version: str | None) -> dict[str, str]:
    """Never older than what we saw last (a lagging cache must not hide new Jobs)."""
    if not resource_version:
        return {}
    return {"resource_version": resource_version, "resource_version_match": "NotOlderThan"}


def _reason(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    return body.get("message") or exc.reason or ""
