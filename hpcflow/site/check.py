"""``hpcflow site check``: probe the cluster a site configuration describes.

Read-only queries (``scontrol ping``, ``sinfo``, ``scontrol show config``, ``sacct``), each a
line in the report, so a new user sees in one screen what works and what to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hpcflow.errors import SchedulerError, TransportError
from hpcflow.scheduler.slurm import argv as A
from hpcflow.scheduler.slurm import parse as P
from hpcflow.site.models import SiteConfig
from hpcflow.transport import CommandResult, Transport


@dataclass(frozen=True)
class Check:
    """One probe: its name, whether it passed, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass
class SiteReport:
    """The result of :func:`check_site`; facts found on the way are kept for callers."""

    site: str
    checks: list[Check] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    max_array_size: int | None = None
    accounting: bool | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def render(self) -> str:
        lines = [f"site {self.site}: {'OK' if self.ok else 'PROBLEMS FOUND'}"]
        width = max((len(c.name) for c in self.checks), default=0)
        for c in self.checks:
            lines.append(f"  [{'ok' if c.ok else 'FAIL':>4}] {c.name.ljust(width)}  {c.detail}")
        return "\n".join(lines)


def _run(transport: Transport, argv: list[str]) -> CommandResult | str:
    try:
        return transport.run(argv, timeout=30.0)
    except TransportError as exc:
        return str(exc)


def _work_root(site: SiteConfig, report: SiteReport) -> None:
    if not site.work_root:
        report.add("work_root", True, "not set: <hpcflow home>/work (local mode only)")
        return
    root = Path(site.work_root)
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), root)
    ok = probe.is_dir() and os.access(probe, os.W_OK)
    detail = str(root) if root.exists() else f"{root} (will be created under {probe})"
    report.add("work_root", ok, detail if ok else f"{probe} is not writable")


def check_site(site: SiteConfig, transport: Transport, report: SiteReport | None = None) -> SiteReport:
    """Probe ``site`` through ``transport``; never raises for a cluster problem. A given
    ``report`` (an SSH site's, whose work root is on the other side) is continued."""
    if report is None:
        report = SiteReport(site=site.name)
        _work_root(site, report)
    if site.scheduler == "kubernetes":
        from hpcflow.site.check_kubernetes import check_kubernetes

        check_kubernetes(site, report)
        return report
    if site.scheduler != "slurm":
        report.add("scheduler", True, f"{site.scheduler}: nothing to probe")
        return report
    ping = _run(transport, A.scontrol_ping_argv())
    if isinstance(ping, str) or not ping.ok or "UP" not in ping.stdout:
        detail = ping if isinstance(ping, str) else (ping.stdout.strip() or ping.describe())
        report.add("controller", False, detail.splitlines()[0] if detail else "no answer")
        return report
    report.add("controller", True, ping.stdout.strip().splitlines()[0])
    _partitions(site, transport, report)
    _config(transport, report)
    _accounting(transport, report)
    return report


def _partitions(site: SiteConfig, transport: Transport, report: SiteReport) -> None:
    result = _run(transport, A.sinfo_argv())
    if isinstance(result, str) or not result.ok:
        report.add("partitions", False, result if isinstance(result, str) else result.describe())
        return
    found = P.parse_sinfo_partitions(result.stdout)
    report.partitions = sorted(found)
    down = [n for n, p in found.items() if p["avail"] != "up"]
    report.add(
        "partitions", True, ", ".join(report.partitions) + (f" (down: {down})" if down else "")
    )
    wanted = set(site.partitions) | (
        {site.defaults.partition} if site.defaults.partition else set()
    )
    missing = sorted(wanted - set(found))
    if wanted:
        detail = (
            f"missing: {', '.join(missing)}"
            if missing
            else f"all present: {', '.join(sorted(wanted))}"
        )
        report.add("configured partitions", not missing, detail)


def _config(transport: Transport, report: SiteReport) -> None:
    result = _run(transport, A.scontrol_config_argv())
    if isinstance(result, str) or not result.ok:
        report.add("MaxArraySize", False, result if isinstance(result, str) else result.describe())
        return
    try:
        report.max_array_size = P.parse_max_array_size(P.parse_scontrol_config(result.stdout))
    except SchedulerError as exc:  # reported, not raised
        report.add("MaxArraySize", False, str(exc))
        return
    report.add("MaxArraySize", True, str(report.max_array_size))


def _accounting(transport: Transport, report: SiteReport) -> None:
    since = (datetime.now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    result = _run(transport, A.sacct_argv(None, since=since))
    if isinstance(result, str):
        report.accounting = False
        report.add("accounting", False, result)
    elif result.ok:
        report.accounting = True
        report.add("accounting", True, "sacct answers")
    else:
        report.accounting = False
        off = P.is_accounting_disabled(result.stderr)
        # Accounting is optional: without it, vanished jobs are UNKNOWN until the grace period.
        report.add(
            "accounting",
            off,
            "disabled (finished jobs resolved by exit records only)" if off else result.describe(),
        )
