"""Dflow's ``DispatcherExecutor`` (DPDispatcher settings) mapped onto hpcflow's Slurm jobs.

``context_type`` LocalContext with ``batch_type`` Slurm runs the step on the site's own
Slurm (hpcflow runs on the cluster's login node, and the site file says which cluster).
``SSHContext`` with ``batch_type`` Slurm sends just that step to another cluster's Slurm
over SSH (its route, see :mod:`hpcflow.engine.routing`): ``remote_profile`` hostname,
username, port, key_filename and timeout, and ``remote_root``. The DPDispatcher resources
become step resources and job setup lines; anything hpcflow cannot honour is an error
that names it, never silently dropped; passwords are refused (keys stay in files).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from hpcflow.compat.helpers import update_dict
from hpcflow.dsl.executor import Executor
from hpcflow.errors import NotSupported, SpecError

LOCAL_CONTEXTS = {"localcontext", "local", "lazylocalcontext", "lazylocal"}
SSH_CONTEXTS = {"sshcontext", "ssh"}
SLURM_BATCH = {"slurm", "slurmjobarray"}
#: Machine keys that mean nothing once the context is local (hpcflow's work root is the site's).
_IGNORED_MACHINE_KEYS = {"batch_type", "context_type", "local_root", "remote_root", "remote_profile",
                         "clean_asynchronously"}
_RESOURCE_KEYS = {"number_node", "cpu_per_node", "gpu_per_node", "queue_name", "group_size",
                  "custom_flags", "source_list", "module_list", "module_purge",
                  "module_unload_list", "envs", "prepend_script", "para_deg", "strategy", "kwargs"}
#: DispatcherExecutor arguments that only matter for the SSH or container paths of Dflow.
_REMOTE_ONLY = ("host", "password", "private_key_file", "remote_command")
_CONTAINERS = ("docker_executable", "singularity_executable", "podman_executable")


class DispatcherExecutor(Executor):
    """Run a step as a Slurm job of this cluster with DPDispatcher-style settings.

    Accepts Dflow's arguments; ``machine_dict`` / ``resources_dict`` (or ``json_file`` with
    ``machine`` and ``resources``) as DPDispatcher writes them.
    """

    def __init__(self, host: str | None = None, queue_name: str | None = None, port: int = 22,
                 username: str = "root", password: str | None = None,
                 private_key_file: str | None = None, image: str | None = None,
                 image_pull_policy: str | None = None, command: str | list[str] = "python3",
                 remote_command: str | list[str] | None = None, map_tmp_dir: bool = True,
                 machine_dict: dict[str, Any] | None = None,
                 resources_dict: dict[str, Any] | None = None,
                 task_dict: dict[str, Any] | None = None, json_file: str | None = None,
                 docker_executable: str | None = None, singularity_executable: str | None = None,
                 container_args: str = "", podman_executable: str | None = None,
                 remote_root: str | None = None, retry_on_submission_error: int | None = None,
                 merge_sliced_step: bool = False, pre_script: str = "", post_script: str = "",
                 clean: bool = True, remove_scheduling_strategies: bool = True,
                 envs: dict[str, str] | None = None, merge_bohrium_job_group: bool = False,
                 terminate_grace_period: int | None = None) -> None:
        machine: dict[str, Any] = {"batch_type": "Slurm", "context_type": "SSHContext"}
        resources: dict[str, Any] = {}
        if json_file is not None:
            with open(json_file, encoding="utf-8") as fh:
                conf = json.load(fh)
            update_dict(machine, conf.get("machine", {}))
            update_dict(resources, conf.get("resources", {}))
        update_dict(machine, machine_dict or {})
        update_dict(resources, resources_dict or {})
        if queue_name is not None:
            resources.setdefault("queue_name", queue_name)
        self.machine_dict, self.resources_dict = machine, resources
        self.task_dict = dict(task_dict or {})
        context = str(machine.get("context_type", "")).lower()
        batch = str(machine.get("batch_type", "")).lower()
        #: SSHContext: the step's route (hpcflow.engine.routes), else None (this site's Slurm).
        self.remote: dict[str, Any] | None = None
        if context in SSH_CONTEXTS:
            self.remote = _ssh_route(machine, host, username, port, password, private_key_file,
                                     remote_root, remote_command or command)
        elif context not in LOCAL_CONTEXTS:
            raise NotSupported(
                f"DispatcherExecutor: context_type {machine.get('context_type')!r} is not "
                "supported (hpcflow supports LocalContext on a Slurm login node, and SSHContext)")
        if batch not in SLURM_BATCH:
            raise NotSupported(
                f"DispatcherExecutor: batch_type {machine.get('batch_type')!r} is not supported "
                "(hpcflow's batch backend is Slurm; use batch_type Slurm)")
        _refuse(sorted(set(machine) - _IGNORED_MACHINE_KEYS), "machine_dict keys")
        _refuse(sorted(set(resources) - _RESOURCE_KEYS), "resources_dict keys")
        given = {"docker_executable": docker_executable, "podman_executable": podman_executable,
                 "singularity_executable": singularity_executable, "host": host,
                 "password": password, "private_key_file": private_key_file,
                 "remote_command": remote_command}
        _refuse([n for n in _CONTAINERS if given[n]],
                "container arguments (use the step's image= and the site's [containers] runtime)")
        _refuse(["task_dict"] if self.task_dict else [], "arguments (DPDispatcher task settings)")
        _refuse(["pre_script"] if pre_script else [], "arguments (use the template's pre_script)")
        _refuse(["post_script"] if post_script else [], "arguments (use the template's post_script)")
        # SSH settings of a local context mean nothing; those of an SSHContext are its route.
        self.ignored = [n for n in _REMOTE_ONLY if given[n]] if self.remote is None else []
        step_envs = {**(resources.get("envs") or {}), **(envs or {})}
        super().__init__(resources=_slurm_resources(resources), envs=step_envs,
                         setup=_setup_lines(resources), group_size=resources.get("group_size"),
                         pool_size=resources.get("para_deg"))


    def to_spec(self) -> dict[str, Any]:
        spec = super().to_spec()
        if self.remote is not None:
            spec["remote"] = dict(self.remote)
        return spec


def _ssh_route(machine: dict[str, Any], host: str | None, username: str, port: int,
               password: str | None, key_file: str | None, remote_root: str | None,
               command: str | list[str]) -> dict[str, Any]:
    """The step's route: the cluster's Slurm over SSH (Dflow's ``host=``, ``username=``...
    arguments fill in what ``remote_profile`` does not say)."""
    from hpcflow.engine.routes import route_from_ssh_context
    from hpcflow.errors import ConfigError
    from hpcflow.site.ssh_context import ssh_context_settings

    machine = dict(machine)
    profile = dict(machine.get("remote_profile") or {})
    if host is not None:
        profile.setdefault("hostname", host)
        profile.setdefault("username", username)
        if port != 22:
            profile.setdefault("port", port)
    if key_file is not None:
        profile.setdefault("key_filename", key_file)
    if password is not None:
        profile.setdefault("password", password)  # refused below, by name
    machine["remote_profile"] = profile
    if remote_root is not None:
        machine.setdefault("remote_root", remote_root)
    python = command if isinstance(command, str) else " ".join(command)
    if not python or any(c.isspace() for c in python):
        raise NotSupported(f"DispatcherExecutor: command {command!r}: hpcflow runs the step with "
                           "the cluster's Python; give one interpreter (python3, /opt/py/bin/python)")
    try:
        return route_from_ssh_context(ssh_context_settings(machine, {}).site, python=python)
    except ConfigError as exc:
        raise NotSupported(str(exc)) from None


def _refuse(names: list[str], what: str) -> None:
    if names:
        raise NotSupported(f"DispatcherExecutor: unsupported {what}: {', '.join(names)}")


def _slurm_resources(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if res.get("queue_name"):
        out["partition"] = res["queue_name"]
    if res.get("cpu_per_node"):
        out["cpus"] = int(res["cpu_per_node"])
    if res.get("gpu_per_node"):
        out["gpus"] = int(res["gpu_per_node"])
    extra: list[str] = []
    nodes = int(res.get("number_node") or 1)
    if nodes > 1:
        extra.append(f"--nodes={nodes}")
    for flag in res.get("custom_flags") or []:
        extra.extend(_sbatch_option(str(flag)))
    if res.get("strategy") not in (None, {}, {"if_cuda_multi_devices": False}):
        raise NotSupported(f"DispatcherExecutor: resources strategy {res['strategy']!r} is not supported")
    if res.get("kwargs") not in (None, {}):
        raise NotSupported(f"DispatcherExecutor: resources kwargs {sorted(res['kwargs'])} are not supported")
    if extra:
        out["extra_options"] = extra
    return out


def _sbatch_option(flag: str) -> list[str]:
    """``"#SBATCH --mem=4G"`` → ``["--mem=4G"]``; a flag that is not an sbatch option is an error."""
    text = flag.strip()
    if text.upper().startswith("#SBATCH"):
        text = text[len("#SBATCH"):].strip()
    options = shlex.split(text)
    if not options or not options[0].startswith("-"):
        raise SpecError(f"DispatcherExecutor: custom_flags entry {flag!r} is not an #SBATCH option")
    name = options[0].split("=", 1)[0]
    if name in _HPCFLOW_OWNS:
        raise NotSupported(f"DispatcherExecutor: custom_flags {name} is set by hpcflow itself "
                           "(job name, tag, logs and arrays); remove it")
    return options


#: sbatch options hpcflow sets on every job (its tag is in --comment).
_HPCFLOW_OWNS = {"--comment", "--job-name", "-J", "--output", "-o", "--error", "-e", "--array", "-a",
                 "--parsable", "--wrap"}


def _setup_lines(res: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if res.get("module_purge"):
        lines.append("module purge")
    lines += [f"module unload {shlex.quote(str(m))}" for m in res.get("module_unload_list") or []]
    lines += [f"module load {shlex.quote(str(m))}" for m in res.get("module_list") or []]
    lines += [f"source {shlex.quote(str(s))}" for s in res.get("source_list") or []]
    lines += [str(line) for line in res.get("prepend_script") or []]
    return lines
