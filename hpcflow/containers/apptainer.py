"""Apptainer and SingularityCE: ``apptainer exec`` command lines.

How the environment gets in (the subtle part). ``--env NAME=VALUE`` is unsafe for
arbitrary values: Apptainer parses it with pflag's string-to-string flag, which reads the
argument as CSV whenever it holds more than one ``=`` (so ``,`` splits it and a bare ``"``
is a parse error, apptainer/apptainer#1152, apptainer/singularity#6088) and strips
surrounding ``"`` otherwise. ``--env-file`` is shell source evaluated on the host, so it
needs a file on the node. Instead we set ``APPTAINERENV_NAME=VALUE`` (``SINGULARITYENV_``
for SingularityCE) through ``/usr/bin/env`` in front of the binary: the kernel passes
environment values byte for byte, those variables survive ``--cleanenv`` by design, and
``--no-eval`` (Apptainer >= 1.1, SingularityCE >= 3.10) stops the container from
shell-evaluating them (without it ``$(...)`` and ``$$`` in a value are expanded).

Binds are ``--bind SRC:DST[:ro]``; Apptainer splits a bind spec on ``,`` (several binds)
and ``:`` (fields), so paths holding either are rejected rather than silently mangled.

Why not ``spython``: its ``Client.execute`` runs the command itself (we need a pure argv
for job scripts and golden tests), probes the binary on import of a client, joins bind
specs without validating ``:``/``,`` and has no notion of ``--no-eval``; the argv is a
dozen lines, simpler to own than to wrap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from hpcflow.containers.base import ContainerRun, probe, python_problem, reject_chars
from hpcflow.errors import ContainerError
from hpcflow.transport import Transport

#: Image references the runtime fetches itself; nothing local to check.
REMOTE_PREFIXES = (
    "docker://",
    "docker-archive:",
    "docker-daemon:",
    "oci://",
    "oci-archive:",
    "oras://",
    "library://",
    "shub://",
    "http://",
    "https://",
)

ENV_LAUNCHER = "/usr/bin/env"

# First version with --no-eval, per product name printed by `<binary> --version`.
_MIN_VERSION = {"apptainer": (1, 1, 0), "singularity-ce": (3, 10, 0)}
_VERSION_RE = re.compile(r"^(apptainer|singularity-ce|singularity) version v?(\d+)\.(\d+)\.?(\d*)")


class ApptainerRuntime:
    """``apptainer exec --cleanenv --no-eval ...``; also serves SingularityCE.

    Args:
        name: "apptainer" or "singularity" (selects the binary and the env prefix).
        executable: path or name of the binary (default: ``name``).
        options: extra site flags inserted right after ``exec``.
    """

    def __init__(
        self, name: str = "apptainer", executable: str | None = None, options: Sequence[str] = ()
    ) -> None:
        if name not in ("apptainer", "singularity"):
            raise ContainerError(f"ApptainerRuntime serves apptainer or singularity, not {name!r}")
        self._name = name
        self.executable = executable or name
        self.options = tuple(options)
        self.env_prefix = "APPTAINERENV_" if name == "apptainer" else "SINGULARITYENV_"

    @property
    def name(self) -> str:
        return self._name

    def command(self, run: ContainerRun) -> list[str]:
        """The argv: ``[/usr/bin/env PREFIX_K=V ...] apptainer exec <flags> IMAGE ARGV...``."""
        argv: list[str] = []
        if run.env:
            if "=" in self.executable:  # env(1) would take it for one more assignment
                raise ContainerError(
                    f"{self.name}: executable path {self.executable!r} contains '='"
                )
            argv += [ENV_LAUNCHER, *(f"{self.env_prefix}{k}={v}" for k, v in run.env.items())]
        argv += [self.executable, "exec", *self.options, "--cleanenv", "--no-eval"]
        if run.gpu == "nvidia":
            argv.append("--nv")
        elif run.gpu == "rocm":
            argv.append("--rocm")
        for bind in run.binds:
            reject_chars(bind.source, "source", ":,", self.name)
            reject_chars(bind.dest, "target", ":,", self.name)
            argv += ["--bind", f"{bind.source}:{bind.dest}" + (":ro" if bind.read_only else "")]
        if run.workdir is not None:
            argv += ["--pwd", run.workdir]
        argv.append(run.image)
        argv += run.argv
        return argv

    def check(self, runner: Transport) -> None:
        """Require the binary, at a version with ``--no-eval`` (see module docstring)."""
        result = probe(runner, [self.executable, "--version"], self.name)
        if not result.ok:
            raise ContainerError(f"{self.name}: {result.describe()}")
        text = (result.stdout or result.stderr).strip()
        match = _VERSION_RE.match(text)
        if match is None:
            raise ContainerError(f"{self.name}: cannot parse version from {text!r}")
        product = match.group(1)
        version = (int(match.group(2)), int(match.group(3)), int(match.group(4) or 0))
        minimum = _MIN_VERSION.get(product)
        if minimum is None or version < minimum:
            need = ", ".join(f"{p} >= {'.'.join(map(str, v))}" for p, v in _MIN_VERSION.items())
            raise ContainerError(
                f"{self.name}: {text!r} is too old or unsupported; hpcflow needs {need} "
                "(for --no-eval, which keeps environment values literal)"
            )

    def image_problem(self, image: str) -> str | None:
        """Check a local ``.sif`` file or sandbox directory; remote references pass."""
        if image.startswith(REMOTE_PREFIXES):
            return None
        if not image.startswith("/"):
            return f"image path {image!r} is not absolute (jobs run in another directory)"
        if os.path.isdir(image):
            return python_problem(image)
        if not os.path.exists(image):
            kind = "SIF file" if image.endswith(".sif") else "image"
            return f"{kind} {image} does not exist"
        if not os.path.isfile(image):
            return f"image {image} is neither a SIF file nor a sandbox directory"
        if not os.access(image, os.R_OK):
            return f"image {image} is not readable"
        return None
