"""Dflow's ``DispatcherExecutor`` with DPDispatcher's ``SSHContext``, as hpcflow settings.

``DispatcherExecutor(machine_dict={"batch_type": "Slurm", "context_type": "SSHContext",
"remote_root": ..., "remote_profile": {...}}, resources_dict={...})`` says: run the step as
a Slurm job on a cluster reached over SSH. In hpcflow that is a site with an ``[ssh]``
table and ``engine = "local"`` (this machine's engine, the cluster's Slurm over SSH), plus
the step's own resources, setup lines and environment. :func:`ssh_context_settings` does
that mapping as pure data; keys hpcflow does not support are errors that name them, and
secrets (``password``, ``passphrase``, ``totp_secret``) are refused: keys stay in files.
``DispatcherExecutor`` uses it for one step's route (:mod:`hpcflow.engine.routes`): the
same cluster for that step only, while the others run where the engine runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from hpcflow.errors import ConfigError

_SSH_CONTEXTS = {"sshcontext", "ssh"}
_SLURM = {"slurm", "slurmjobarray"}
_MACHINE_KEYS = {"batch_type", "context_type", "remote_root", "remote_profile", "local_root",
                 "clean_asynchronously"}
#: DPDispatcher remote_profile key -> hpcflow [ssh] key.
_PROFILE = {"hostname": "host", "username": "user", "port": "port",
            "key_filename": "identity_file", "timeout": "connect_timeout_s"}
_PROFILE_IGNORED = {"look_for_keys", "tar_compress"}
_SECRETS = {"password", "passphrase", "totp_secret"}
_RESOURCE_KEYS = {"number_node", "cpu_per_node", "gpu_per_node", "queue_name", "group_size",
                  "custom_flags", "source_list", "module_list", "module_purge",
                  "module_unload_list", "envs", "prepend_script", "para_deg"}


@dataclass(frozen=True)
class SshContextSettings:
    """What one SSHContext DispatcherExecutor means to hpcflow."""

    #: A site configuration (as a site file's TOML would parse) for the remote cluster.
    site: dict[str, Any]
    #: The step's executor: ``resources``, ``envs``, ``setup``, ``group_size``, ``pool_size``.
    executor: dict[str, Any] = field(default_factory=dict)


def ssh_context_settings(machine: dict[str, Any], resources: dict[str, Any] | None = None,
                         site_name: str | None = None) -> SshContextSettings:
    """Map DPDispatcher's ``machine`` and ``resources`` dicts onto hpcflow settings."""
    resources = dict(resources or {})
    context = str(machine.get("context_type", "")).lower()
    if context not in _SSH_CONTEXTS:
        raise ConfigError(f"DispatcherExecutor: context_type {machine.get('context_type')!r} is "
                          "not SSHContext")
    if str(machine.get("batch_type", "")).lower() not in _SLURM:
        raise ConfigError(f"DispatcherExecutor: batch_type {machine.get('batch_type')!r} is not "
                          "supported over SSH (hpcflow's batch backend is Slurm)")
    _refuse(set(machine) - _MACHINE_KEYS, "machine_dict keys")
    profile = dict(machine.get("remote_profile") or {})
    secrets = sorted(set(profile) & _SECRETS)
    if secrets:
        raise ConfigError(f"DispatcherExecutor: remote_profile {', '.join(secrets)}: hpcflow never "
                          "stores secrets; use key_filename and type passwords or one-time codes "
                          "at `hpcflow login SITE`")
    _refuse(set(profile) - set(_PROFILE) - _PROFILE_IGNORED, "remote_profile keys")
    if "hostname" not in profile:
        raise ConfigError("DispatcherExecutor: remote_profile needs hostname")
    if not machine.get("remote_root"):
        raise ConfigError("DispatcherExecutor: machine_dict needs remote_root (the work root on "
                          "the cluster)")
    _refuse(set(resources) - _RESOURCE_KEYS, "resources_dict keys")
    ssh = {_PROFILE[k]: v for k, v in profile.items() if k in _PROFILE}
    ssh["engine"] = "local"
    site = {"name": site_name or f"ssh-{profile['hostname']}", "scheduler": "slurm",
            "work_root": str(machine["remote_root"]), "ssh": ssh}
    return SshContextSettings(site=site, executor=_executor(resources))


def _refuse(keys: set[str], what: str) -> None:
    if keys:
        raise ConfigError(f"DispatcherExecutor with SSHContext: unsupported {what}: "
                          f"{', '.join(sorted(keys))}")


def _executor(res: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if res.get("queue_name"):
        resources["partition"] = str(res["queue_name"])
    if res.get("cpu_per_node"):
        resources["cpus"] = int(res["cpu_per_node"])
    if res.get("gpu_per_node"):
        resources["gpus"] = int(res["gpu_per_node"])
    extra: list[str] = []
    if int(res.get("number_node") or 1) > 1:
        extra.append(f"--nodes={int(res['number_node'])}")
    for flag in res.get("custom_flags") or []:
        text = str(flag).strip()
        if text.upper().startswith("#SBATCH"):
            text = text[len("#SBATCH"):].strip()
        options = shlex.split(text)
        if not options or not options[0].startswith("-"):
            raise ConfigError(f"DispatcherExecutor: custom_flags entry {flag!r} is not an "
                              "#SBATCH option")
        extra += options
    if extra:
        resources["extra_options"] = extra
    setup: list[str] = []
    if res.get("module_purge"):
        setup.append("module purge")
    setup += [f"module unload {shlex.quote(str(m))}" for m in res.get("module_unload_list") or []]
    setup += [f"module load {shlex.quote(str(m))}" for m in res.get("module_list") or []]
    setup += [f"source {shlex.quote(str(s))}" for s in res.get("source_list") or []]
    setup += [str(line) for line in res.get("prepend_script") or []]
    return {"resources": resources, "envs": {str(k): str(v) for k, v in (res.get("envs") or {}).items()},
            "setup": setup, "group_size": res.get("group_size"), "pool_size": res.get("para_deg")}
