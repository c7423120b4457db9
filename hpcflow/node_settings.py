"""What a job reads from its node's environment, and the Dflow alias's switches.

Split from :mod:`hpcflow.settings` (which re-exports all of it) because every array task
imports these and nothing else of the settings: :class:`~hpcflow.settings.Settings` needs
``pathlib``, which costs a task ~3.5 ms of CPU (it imports ``urllib.parse`` and
``ipaddress``); a function OP with plain parameters never needs it. The two modules
together are the only place that reads hpcflow's environment variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hpcflow.frozen import frozen


def flag(env: Mapping[str, str], name: str) -> bool:
    """Whether variable ``name`` is set to something other than empty or ``0``."""
    return env.get(name, "") not in ("", "0")


@frozen
class NodeOptions:
    """What the runtime takes from the compute node's environment."""

    scratch: str = "/tmp"
    #: fsync before rename costs milliseconds per record; a record lost to an OS crash only
    #: makes the engine treat the attempt as lost and run it again, so it is opt-in.
    fsync: bool = False


def node_options(environ: Mapping[str, str] | None = None) -> NodeOptions:
    env = os.environ if environ is None else environ
    return NodeOptions(scratch=env.get("HPCFLOW_SCRATCH") or env.get("TMPDIR") or "/tmp",
                       fsync=flag(env, "HPCFLOW_FSYNC"))


def pod_options(environ: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """(task list key, storage JSON, ``JOB_COMPLETION_INDEX``) in a Kubernetes pod;
    KeyError names a missing one."""
    env = os.environ if environ is None else environ
    return env["HPCFLOW_POD_TASKS"], env["HPCFLOW_POD_STORAGE"], env["JOB_COMPLETION_INDEX"]


@frozen
class DflowOptions:
    """The Dflow alias's settings (read on ``import hpcflow``, before any Settings exist)."""

    alias: bool = False
    quiet: bool = False
    mode: str = "default"


def dflow_options(environ: Mapping[str, str] | None = None) -> DflowOptions:
    env = os.environ if environ is None else environ
    return DflowOptions(alias=flag(env, "HPCFLOW_DFLOW_ALIAS"), quiet=flag(env, "HPCFLOW_DFLOW_ALIAS_QUIET"),
                        mode=env.get("DFLOW_MODE") or "default")
