"""Configuration of this process, resolved once: CLI flags > environment > defaults.

This module, with :mod:`hpcflow.node_settings` for what a job reads (re-exported here), is
the only place that reads hpcflow's environment variables (README, "Environment
variables"). The CLI resolves a :class:`Settings` from its flags and installs it with
:func:`use`; a script that imports hpcflow gets one from the environment on first use.
Everything below (the client, the engine's site adapter, the schedulers) is handed the
object and never looks at ``os.environ`` itself. What a site file says is resolved from
``site`` by :mod:`hpcflow.engine.site_adapter` (site file > defaults).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpcflow.frozen import frozen, replace
from hpcflow.node_settings import (
    DflowOptions,
    NodeOptions,
    dflow_options,
    flag,
    node_options,
    pod_options,
)

#: Every environment variable hpcflow reads, with what it sets.
ENVIRONMENT = {
    "HPCFLOW_HOME": "where the store and local work directories live (default ~/.hpcflow)",
    "HPCFLOW_SITE": "the site file to use (default ~/.config/hpcflow/site.toml, then local mode)",
    "HPCFLOW_LOCAL_WORKERS": "local mode: jobs at once (default: one per core)",
    "HPCFLOW_NO_ZYGOTE": "local mode: start each job as a new interpreter, not from the fork server",
    "HPCFLOW_NO_ATEXIT": "local mode: a script does not wait for its workflows when it exits",
    "HPCFLOW_SUBMIT_ONLY": "register workflows and stop at the first wait (what `hpcflow submit` sets)",
    "HPCFLOW_DFLOW_ALIAS": "`import dflow` resolves to hpcflow (what `hpcflow exec` sets)",
    "HPCFLOW_DFLOW_ALIAS_QUIET": "the alias does not say which dflow is in use (set once it has)",
    "DFLOW_MODE": "Dflow's mode: `debug` makes `submit()` return when the workflow has ended",
    # Read on the compute node by the runtime (set them in the site's `setup` lines):
    "HPCFLOW_SCRATCH": "node-local directory for fetched S3 inputs (default $TMPDIR, then /tmp)",
    "HPCFLOW_FSYNC": "fsync exit records before they are published (default off)",
    # Read in a Kubernetes pod; hpcflow sets them in the Job it creates:
    "HPCFLOW_POD_TASKS": "in a pod: the S3 key of the job's task list",
    "HPCFLOW_POD_STORAGE": "in a pod: the S3 storage settings (JSON, no credentials)",
}

USER_SITE = Path("~/.config/hpcflow/site.toml")


@frozen
class Settings:
    """How this process talks to hpcflow: which store, which site, how scripts behave."""

    home: Path
    #: A site file, or ``None`` for local mode.
    site_file: str | None = None
    #: ``hpcflow submit``: workflows are registered; ``wait()`` and polls stop the script.
    submit_only: bool = False
    #: Local mode: a script that never waits still runs its workflows to the end at exit.
    wait_at_exit: bool = True
    local_workers: int | None = None
    fork_server: bool = True
    #: The user jobs run as (for ``$USER`` in job scripts).
    user: str = ""
    #: This process's ``PYTHONPATH``: recorded with each workflow it submits.
    python_path: tuple[str, ...] = ()

    @classmethod
    def resolve(cls, site: str | None = None, home: str | Path | None = None,
                environ: Mapping[str, str] | None = None) -> Settings:
        """Flags first, then the environment, then the defaults."""
        env = os.environ if environ is None else environ
        home_dir = Path(home or env.get("HPCFLOW_HOME") or Path.home() / ".hpcflow").expanduser()
        site_file = site or env.get("HPCFLOW_SITE") or None
        if site_file is None and USER_SITE.expanduser().is_file():
            site_file = str(USER_SITE.expanduser())
        workers = env.get("HPCFLOW_LOCAL_WORKERS")
        return cls(
            home=home_dir,
            site_file=site_file,
            submit_only=flag(env, "HPCFLOW_SUBMIT_ONLY"),
            wait_at_exit=not flag(env, "HPCFLOW_NO_ATEXIT"),
            local_workers=int(workers) if workers else None,
            fork_server=not flag(env, "HPCFLOW_NO_ZYGOTE"),
            user=env.get("USER") or env.get("LOGNAME") or _login_name(),
            python_path=tuple(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p),
        )

    def but(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (the CLI's ``submit`` turns on ``submit_only``)."""
        return replace(self, **changes)

    def as_cli_options(self) -> list[str]:
        """Flags that give a child ``hpcflow`` process (the daemon) the same store and site,
        as absolute paths: the child does not start in this process's directory."""
        options = ["--home", str(Path(self.home).resolve())]
        if self.site_file:
            site = Path(self.site_file).expanduser()
            options += ["--site", str(site.resolve()) if site.exists() else self.site_file]
        return options


_current: Settings | None = None


def current() -> Settings:
    """The settings of this process: what the CLI installed, else the environment's now."""
    return _current if _current is not None else Settings.resolve()


def use(settings: Settings | None) -> None:
    """Install ``settings`` for this process (``None``: resolve again on next use)."""
    global _current
    _current = settings


def _login_name() -> str:
    import pwd  # only without $USER and $LOGNAME (a login shell has them)

    return pwd.getpwuid(os.getuid()).pw_name


__all__ = ["ENVIRONMENT", "USER_SITE", "DflowOptions", "NodeOptions", "Settings", "current",
           "dflow_options", "node_options", "pod_options", "use"]
