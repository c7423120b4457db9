"""Site configuration: models, TOML loading with precise errors, and the cluster probe."""

from hpcflow.site.check import Check, SiteReport, check_site
from hpcflow.site.loader import builtin_local, load_site, parse_site, resolve_site
from hpcflow.site.models import Containers, Defaults, Partition, SiteConfig, Storage

__all__ = [
    "Check",
    "Containers",
    "Defaults",
    "Partition",
    "SiteConfig",
    "SiteReport",
    "Storage",
    "builtin_local",
    "check_site",
    "load_site",
    "parse_site",
    "resolve_site",
]
