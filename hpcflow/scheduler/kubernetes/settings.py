"""What the Kubernetes backend needs from a site (built from the site file's [kubernetes])."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KubeSettings:
    """The ``[kubernetes]`` table of a site, plus its S3 storage settings."""

    namespace: str
    s3_secret: str
    storage: dict[str, Any]
    kubeconfig: str | None = None
    context: str | None = None
    image_pull_policy: str = "IfNotPresent"
    service_account: str | None = None
    ttl_s: int = 3600
    unschedulable_timeout_s: float = 600.0
    backoff_limit_per_index: int = 2
    per_index_retries: bool = True
    python: str = "python3"
    node_selector: dict[str, str] = field(default_factory=dict)
    #: Home image (a .sif file, an image directory) → the image reference pods pull.
    images: dict[str, str] = field(default_factory=dict)
    default_image: str | None = None
    #: Work root of the engine: attempt directories below it name their S3 keys.
    work_root: str = ""
    #: The site's name (``show`` says a unit ran there).
    site_name: str = "kubernetes"

    @classmethod
    def from_site(cls, site: Any, work_root: str) -> KubeSettings:
        """From a validated :class:`hpcflow.site.models.SiteConfig` with scheduler kubernetes."""
        k = site.kubernetes
        storage = site.storage.model_dump()
        return cls(namespace=k.namespace, s3_secret=k.s3_secret, storage=storage,
                   kubeconfig=k.kubeconfig, context=k.context,
                   image_pull_policy=k.image_pull_policy, service_account=k.service_account,
                   ttl_s=k.ttl_s, unschedulable_timeout_s=k.unschedulable_timeout_s,
                   backoff_limit_per_index=k.backoff_limit_per_index,
                   per_index_retries=k.per_index_retries, python=k.python,
                   node_selector=dict(k.node_selector), images=dict(k.images), default_image=k.default_image,
                   work_root=work_root, site_name=site.name)
