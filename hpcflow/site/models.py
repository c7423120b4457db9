"""Site configuration models: what a cluster offers and what jobs get by default.

Unknown keys are errors (``extra='forbid'``) so a typo is reported at its dotted key instead
of being silently ignored. Credentials are never fields: S3 keys come from a credentials
file or the environment, so a site file can be shared and committed.
"""

from __future__ import annotations

import getpass
import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hpcflow.errors import SpecError
from hpcflow.private import parse_mode
from hpcflow.resources import parse_memory_mb, parse_time_s
from hpcflow.scheduler.base import Resources
from hpcflow.scheduler.slurm.script import SBATCH_VALUE

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand_path(value: str) -> str:
    """``~`` and ``$VARS`` expanded, so one file serves every user of a site.

    An unset variable is an error rather than a literal ``$SCRATCH`` directory. ``$USER``
    falls back to the account name: it is often unset in cron jobs and containers.
    """
    env = dict(os.environ)
    env.setdefault("USER", getpass.getuser())

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in env:
            raise ValueError(f"${name} is not set (in {value!r})")
        return env[name]

    return _VAR.sub(replace, os.path.expanduser(value))


def _memory(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"cannot parse {value!r} as a memory size")
    try:
        mb = parse_memory_mb(value)
    except (SpecError, ValueError) as exc:
        raise ValueError(f"cannot parse {value!r} as a memory size (e.g. '2G', '500M')") from exc
    if mb < 1:
        raise ValueError(f"memory must be at least 1 MB, got {value!r}")
    return mb


def _duration(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", text):
        raise ValueError(
            f"cannot parse {value!r} as a time limit "
            "(minutes, 'MM:SS', 'HH:MM:SS', 'D-HH', 'D-HH:MM' or 'D-HH:MM:SS')"
        )
    try:
        seconds = parse_time_s(value if isinstance(value, str) else text)
    except SpecError as exc:
        raise ValueError(str(exc)) from None
    if seconds < 1:
        raise ValueError(f"time limit must be positive, got {value!r}")
    return seconds


def _refuse_secrets(data: Any, keys: set[str] | frozenset[str], advice: str) -> Any:
    """A site file is read by people and copied around: a key naming a secret is an error."""
    if isinstance(data, dict):
        found = sorted(k for k in data if str(k).lower() in keys)
        if found:
            raise ValueError(f"{', '.join(found)}: {advice}")
    return data


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)




def _slurm_value(value: str | None) -> str | None:
    if value is not None and not SBATCH_VALUE.match(value):
        raise ValueError(f"{value!r} contains spaces, quotes or other characters Slurm rejects")
    return value


class Defaults(_Model):
    """Resources every job gets unless its step asks otherwise."""

    cpus: int | None = Field(None, ge=1)
    memory_mb: int | None = Field(None, alias="memory")
    gpus: int | None = Field(None, ge=0)
    time_limit_s: int | None = Field(None, alias="time")
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    extra_sbatch: list[str] = Field(default_factory=list)

    _mem = field_validator("memory_mb", mode="before")(_memory)
    _time = field_validator("time_limit_s", mode="before")(_duration)
    _names = field_validator("partition", "account", "qos", "constraint")(_slurm_value)

    @field_validator("extra_sbatch")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        for option in value:
            if not option.startswith("-") or "\n" in option:
                raise ValueError(f"{option!r} is not a single sbatch option like '--reservation=x'")
        return value

    def resources(self) -> Resources:
        """These defaults as the scheduler's :class:`Resources`."""
        return Resources(
            cpus=self.cpus,
            memory_mb=self.memory_mb,
            gpus=self.gpus,
            time_limit_s=self.time_limit_s,
            partition=self.partition,
            account=self.account,
            qos=self.qos,
            constraint=self.constraint,
            extra_options=tuple(self.extra_sbatch),
        )


class Partition(_Model):
    """Limits of one partition, used to check requests before they reach sbatch."""

    max_time_s: int | None = Field(None, alias="max_time")
    max_cpus: int | None = Field(None, ge=1)
    max_memory_mb: int | None = Field(None, alias="max_memory")
    gpus: int | None = Field(None, ge=0)
    default: bool = False

    _mem = field_validator("max_memory_mb", mode="before")(_memory)
    _time = field_validator("max_time_s", mode="before")(_duration)


class Containers(_Model):
    """How jobs run inside container images, if at all."""

    runtime: Literal["none", "apptainer", "singularity", "charliecloud"] = "none"
    executable: str | None = None
    #: ``src[:dst[:ro]]``; ``src`` has ``~`` and ``$VARS`` expanded.
    binds: list[str] = Field(default_factory=list)
    options: list[str] = Field(default_factory=list)
    gpu: Literal["nvidia", "rocm"] | None = None

    @field_validator("binds")
    @classmethod
    def _binds(cls, value: list[str]) -> list[str]:
        from hpcflow.containers.base import Bind
        from hpcflow.errors import ContainerError

        try:
            return [Bind.parse(bind, expand_path).spec() for bind in value]
        except ContainerError as exc:
            raise ValueError(str(exc)) from None


_CREDENTIAL_KEYS = {
    "access_key",
    "secret_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
    "password",
    "token",
}


class Storage(_Model):
    """Where artifacts live: the shared filesystem, or an S3-compatible object store."""

    kind: Literal["shared", "s3"] = "shared"
    endpoint_url: str | None = None
    bucket: str | None = None
    prefix: str = ""
    region: str | None = None
    #: An AWS-style credentials file; the keys themselves never appear in a site file.
    credentials_file: str | None = None
    multipart_threshold_mb: int = Field(64, ge=5)

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any) -> Any:
        return _refuse_secrets(data, _CREDENTIAL_KEYS, "credentials never go in a site file; "
                               "use credentials_file or the AWS_* environment variables")

    @field_validator("credentials_file")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return expand_path(value) if value else value

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> Storage:
        if self.kind == "s3" and not self.bucket:
            raise ValueError("kind = 's3' needs a bucket")
        return self


_SSH_SECRET_KEYS = {"password", "passphrase", "otp", "otp_seed", "totp", "private_key", "key",
                    "secret", "token", "key_data"}


class Ssh(_Model):
    """How to reach the cluster's login node over SSH (``[ssh]``). No secrets: keys stay in
    files the SSH client reads, passwords and one-time codes are typed at ``hpcflow login``."""

    host: str = Field(min_length=1)
    user: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    #: A private key *file* (never the key itself); default: the SSH client's own choice.
    identity_file: str | None = None
    #: A known_hosts file instead of the client's default (``~/.ssh/known_hosts``).
    known_hosts_file: str | None = None
    #: An ssh_config file instead of ``~/.ssh/config`` (OpenSSH client only).
    config_file: str | None = None
    client: Literal["openssh", "paramiko"] = "openssh"
    #: ``remote``: the engine and the store live on the login node; this machine submits
    #: and watches. ``local``: this machine's engine sends each step to the cluster.
    engine: Literal["remote", "local"] = "remote"
    #: The hpcflow command on the login node (the remote CLI's JSON mode is used).
    remote_hpcflow: str = "hpcflow"
    #: The site file the remote hpcflow uses (``--site``), a path on the login node.
    remote_site: str | None = None
    #: The remote hpcflow's ``--home`` (its store), a path on the login node.
    remote_home: str | None = None
    #: Open a connection when none is there (key or Kerberos logins). ``false``: only
    #: ``hpcflow login`` opens one (sites with one-time passwords).
    auto_connect: bool = True
    connect_timeout_s: float = Field(10.0, gt=0)
    command_timeout_s: float = Field(60.0, gt=0)
    #: At most one new connection per this many seconds (centres ban bursts of logins).
    new_connection_interval_s: float = Field(10.0, ge=0)
    #: At most this many commands share the connection at once (sshd's MaxSessions is 10).
    max_channels: int = Field(4, ge=1, le=10)
    #: How long an idle connection stays open for the next command.
    control_persist_s: int = Field(8 * 3600, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        return _refuse_secrets(data, _SSH_SECRET_KEYS, "secrets never go in a site file; use "
                               "identity_file (a key file the SSH client reads) and type passwords "
                               "or one-time codes at `hpcflow login SITE`")

    @field_validator("identity_file", "known_hosts_file", "config_file")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return expand_path(value) if value else value

    @field_validator("host", "user")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or any(c.isspace() for c in value) or "@" in value):
            raise ValueError(f"{value!r} must not start with '-' or contain spaces or '@'")
        return value

    def destination(self) -> str:
        """``user@host`` (or just ``host``: the SSH config then chooses the user)."""
        return f"{self.user}@{self.host}" if self.user else self.host


class SshHost(_Model):
    """``[ssh_hosts."<hostname>"]``: how this machine's SSH client reaches a host that a
    step's executor names (``DispatcherExecutor`` with ``SSHContext`` gives only the host,
    user, port and key file). Everything but the destination, as in :class:`Ssh`."""

    known_hosts_file: str | None = None
    config_file: str | None = None
    client: Literal["openssh", "paramiko"] = "openssh"
    auto_connect: bool = True
    connect_timeout_s: float = Field(10.0, gt=0)
    command_timeout_s: float = Field(60.0, gt=0)
    new_connection_interval_s: float = Field(10.0, ge=0)
    max_channels: int = Field(4, ge=1, le=10)
    control_persist_s: int = Field(8 * 3600, ge=1)
    #: At most one ``squeue`` on this host per this many seconds (local mode ticks often).
    poll_interval_s: float = Field(2.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        return _refuse_secrets(data, _SSH_SECRET_KEYS, "secrets never go in a site file; use "
                               "the executor's key_filename and `hpcflow login`")

    @field_validator("known_hosts_file", "config_file")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return expand_path(value) if value else value


_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _k8s_name(value: str | None) -> str | None:
    if value is not None and (len(value) > 63 or not _K8S_NAME.fullmatch(value)):
        raise ValueError(f"{value!r} is not a Kubernetes name (lower-case letters, digits, '-'; "
                         "at most 63 characters)")
    return value


class Kubernetes(_Model):
    """Where and how steps run as Kubernetes Jobs (``scheduler = "kubernetes"``).

    Credentials never appear here: the API is reached through a kubeconfig file (or the
    in-cluster service account), and pods read the S3 keys from the Secret ``s3_secret``.
    """

    namespace: str = "default"
    #: A kubeconfig file; ``None``: ``$KUBECONFIG`` or ``~/.kube/config``, else in-cluster.
    kubeconfig: str | None = None
    context: str | None = None
    #: The Secret (in ``namespace``) whose AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY pods get.
    s3_secret: str
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    service_account: str | None = None
    #: Finished Jobs (and their pods) are deleted by Kubernetes after this many seconds.
    ttl_s: int = Field(3600, ge=0)
    #: A pod unschedulable for longer than this goes back to the home site (or fails).
    unschedulable_timeout_s: float = Field(600.0, gt=0)
    #: Pod failures (no exit record: a crash, a lost node) Kubernetes retries per index.
    backoff_limit_per_index: int = Field(2, ge=0)
    #: Servers older than 1.29 lack backoffLimitPerIndex: one backoffLimit for the Job instead.
    per_index_retries: bool = True
    #: The interpreter of the step images.
    python: str = "python3"
    node_selector: dict[str, str] = Field(default_factory=dict)
    #: A step's image as the home site names it (a .sif file, an image directory) → the
    #: image reference pods pull; images not listed are used as written.
    images: dict[str, str] = Field(default_factory=dict)
    #: The image of steps that name none (it needs Python 3); without it such steps fail here.
    default_image: str | None = None

    _names = field_validator("namespace", "s3_secret", "service_account")(_k8s_name)

    @field_validator("kubeconfig")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return expand_path(value) if value else value


class Burst(_Model):
    """When a Slurm site sends steps to its Kubernetes site instead of its own queue."""

    #: The Kubernetes site file; a bare name means ``<name>.toml`` beside this site file.
    site: str = Field(min_length=1)
    #: Burst when more than this many of our tasks are pending in the home queue.
    when_pending_over: int | None = Field(None, ge=0)
    #: Burst when one of our tasks has been pending longer than this.
    when_wait_over_s: float | None = Field(None, ge=0)
    #: Only steps that name a container image may burst (Kubernetes runs images only).
    only_images: bool = True
    #: Step-name patterns (fnmatch) that may burst; empty: every step.
    steps: list[str] = Field(default_factory=list)
    #: Step-name patterns that never burst (wins over ``steps``).
    never_steps: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_a_trigger(self) -> Burst:
        if self.when_pending_over is None and self.when_wait_over_s is None:
            raise ValueError("set when_pending_over or when_wait_over_s (or remove [burst])")
        return self


class Cache(_Model):
    """``[cache]``: the result cache (hpcflow.cache) for steps that do not choose."""

    #: Cache every step's results unless its step or template says ``cache=False``.
    default: bool = False


class SiteConfig(_Model):
    """Everything hpcflow needs to know about one site."""

    name: str = Field(min_length=1)
    scheduler: Literal["local", "slurm", "kubernetes"] = "local"
    #: Root of the attempt directories; must be on a filesystem the compute nodes share.
    #: ``None``: ``<hpcflow home>/work``, fine for local mode only.
    work_root: str | None = None
    #: Mode of the directories hpcflow creates in the work root: "0700" (the default, only
    #: you) or with group bits ("0750") where a team shares results. Never for others.
    work_root_mode: int = 0o700
    #: The interpreter jobs run ``hpcflow.runtime`` with (default: the one that submitted
    #: the workflow, recorded in the store at submit time).
    python: str | None = None
    #: Never have more than this many jobs queued (a site's MaxSubmitJobs, politeness).
    max_queued_jobs: int | None = Field(None, ge=1)
    #: Trusted shell lines run before every task (``module load ...``).
    setup: list[str] = Field(default_factory=list)
    #: How long a job may be gone from the queue before its missing exit record counts.
    exit_record_grace_s: float = Field(60.0, ge=0)
    #: The longest gap, in seconds, between two queries of the scheduler (squeue) while
    #: nothing changes; queries come sooner after a submission or a change and when jobs
    #: are due to end. At least 1 s (the shortest gap); at most an hour.
    poll_max_s: float = Field(30.0, ge=1.0, le=3600.0)
    defaults: Defaults = Field(default_factory=lambda: Defaults.model_validate({}))
    partitions: dict[str, Partition] = Field(default_factory=dict)
    containers: Containers = Field(default_factory=lambda: Containers.model_validate({}))
    storage: Storage = Field(default_factory=lambda: Storage.model_validate({}))
    #: The cluster is reached over SSH from this machine (see :class:`Ssh`).
    ssh: Ssh | None = None
    #: SSH client settings for the hosts that steps' executors send jobs to, by host name.
    ssh_hosts: dict[str, SshHost] = Field(default_factory=dict)
    kubernetes: Kubernetes | None = None
    burst: Burst | None = None
    cache: Cache = Field(default_factory=lambda: Cache.model_validate({}))

    @field_validator("work_root", "python")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return expand_path(value) if value else value

    @field_validator("work_root_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> int:
        if not isinstance(value, str):
            raise ValueError('give the mode as an octal string, e.g. "0750"')
        return parse_mode(value)

    @field_validator("setup")
    @classmethod
    def _lines(cls, value: list[str]) -> list[str]:
        for line in value:
            if "\n" in line:
                raise ValueError("each setup entry is one shell line; use a list for several")
        return value

    @model_validator(mode="after")
    def _ssh_needs_slurm(self) -> SiteConfig:
        if self.ssh is not None and self.ssh.engine == "local" and self.scheduler != "slurm":
            raise ValueError("[ssh] engine = 'local' sends steps to Slurm: set scheduler = 'slurm'")
        if self.ssh is not None and self.ssh.engine == "local" and not self.work_root:
            raise ValueError("[ssh] engine = 'local' needs work_root: the directory on the "
                             "cluster where the steps run")
        return self

    @model_validator(mode="after")
    def _partitions_agree(self) -> SiteConfig:
        defaults = [name for name, p in self.partitions.items() if p.default]
        if len(defaults) > 1:
            raise ValueError(f"more than one default partition: {', '.join(defaults)}")
        wanted = self.defaults.partition
        if wanted and self.partitions and wanted not in self.partitions:
            raise ValueError(
                f"defaults.partition {wanted!r} is not one of [partitions]: "
                f"{', '.join(sorted(self.partitions))}"
            )
        return self

    @model_validator(mode="after")
    def _kubernetes_needs_s3(self) -> SiteConfig:
        if self.scheduler == "kubernetes":
            if self.kubernetes is None:
                raise ValueError('scheduler = "kubernetes" needs a [kubernetes] table')
            if self.storage.kind != "s3":
                raise ValueError('scheduler = "kubernetes" needs [storage] kind = "s3": pods do '
                                 "not see the shared filesystem, artifacts go through S3")
            if self.burst is not None:
                raise ValueError("[burst] belongs in the home (Slurm) site, not the Kubernetes one")
        elif self.kubernetes is not None:
            raise ValueError(f'[kubernetes] is only read when scheduler = "kubernetes" '
                             f"(this site's scheduler is {self.scheduler!r})")
        if self.burst is not None and self.storage.kind != "s3":
            raise ValueError('[burst] needs [storage] kind = "s3": a step that bursts reads its '
                             "inputs from S3, the pods do not see this site's filesystem")
        return self

    def default_partition(self) -> str | None:
        """``defaults.partition``, else the partition marked ``default = true``."""
        if self.defaults.partition:
            return self.defaults.partition
        return next((name for name, p in self.partitions.items() if p.default), None)
