"""``hpcflow site check`` for a site reached over SSH: the connection, the hpcflow (or
Python) on the other side, the remote work root, then the same Slurm probe as on a login
node, every command through the site's SSH transport."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import hpcflow
from hpcflow.errors import HpcflowError
from hpcflow.site.check import SiteReport, check_site
from hpcflow.site.models import SiteConfig

if TYPE_CHECKING:
    from hpcflow.transport.local import Transport


def check_ssh_site(site: SiteConfig, home: Path) -> SiteReport:
    from hpcflow.transport.ssh import make_transport

    assert site.ssh is not None
    report = SiteReport(site=site.name)
    transport = make_transport(site.ssh, site.name, home)
    try:
        result = transport.run(["uname", "-n"], timeout=site.ssh.command_timeout_s)
    except HpcflowError as exc:
        report.add("ssh", False, str(exc))
        return report
    report.add("ssh", result.ok, f"{site.ssh.client} to {site.ssh.destination()}: "
                                 f"{result.stdout.strip() or result.describe()}")
    if site.ssh.engine == "remote":
        _remote_hpcflow(site, home, report)
    else:
        _remote_python(site, transport, report)
    return check_site(site, transport, report)


def _remote_hpcflow(site: SiteConfig, home: Path, report: SiteReport) -> None:
    from hpcflow.remote.client import RemoteClient

    try:
        hello = RemoteClient(site, home).hello()
    except HpcflowError as exc:
        report.add("remote hpcflow", False, str(exc))
        return
    report.add("remote hpcflow", True, f"{hello['version']} (here {hpcflow.__version__}), "
                                        f"site {hello['site']}, work root {hello['work_root']}, "
                                        f"daemon {'running' if hello['daemon'] else 'not running'}")


def _remote_python(site: SiteConfig, transport: Transport, report: SiteReport) -> None:
    assert site.ssh is not None  # only SSH sites are checked here
    python = site.python or "python3"
    root = site.work_root or ""
    probe = transport.run([python, "-c", "import sys, os; print(sys.version.split()[0]);"
                           "p = sys.argv[1]\nwhile not os.path.exists(p): p = os.path.dirname(p)\n"
                           "print(os.access(p, os.W_OK))", root], timeout=site.ssh.command_timeout_s)
    lines = probe.stdout.split()
    report.add("remote python", probe.ok, f"{python} {lines[0]}" if probe.ok and lines else probe.describe())
    if probe.ok and len(lines) > 1:
        report.add("work_root", lines[1] == "True", f"{root} on the cluster"
                   + ("" if lines[1] == "True" else " is not writable"))

