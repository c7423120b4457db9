"""Charliecloud: ``ch-run`` command lines (written against ch-run 0.31, Debian 12).

Environment: ch-run passes the host environment through by default, so we start clean
with ``--unset-env=*`` (a glob, one argv element, never seen by a shell), set a default
``PATH``, then one ``--set-env=NAME='VALUE'`` per variable. ``--env-no-expand`` comes
first so ``$X`` in a value stays literal, and every value is wrapped in single quotes
because ch-run strips one pair of surrounding single quotes (a value ``'x'`` sent bare
would arrive as ``x``). Newlines, commas, ``"`` and unicode pass unchanged (tested against 0.31).
Always ``--flag=value``: ``--set-env FOO=bar`` is parsed as the image name (charliecloud#1961).

Binds are ``-b SRC:DST``; ch-run splits on ``:``, so such paths are rejected. ch-run 0.31
has no read-only bind: read-only binds are mounted read-write. The image is mounted
read-only, so every bind target must already exist in it (``missing_targets``).
GPUs: ch-run has no run-time GPU flag; host /dev is visible and GPU user-space libraries
are injected once per image with ``ch-fromhost --nvidia``/``--rocm`` (a site task).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from hpcflow.containers.base import ContainerRun, probe, python_problem, reject_chars
from hpcflow.errors import ContainerError
from hpcflow.transport import Transport

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SQUASH_SUFFIXES = (".sqfs", ".squashfs", ".squash")
#: Flags this module relies on; ``check`` looks for them in ``ch-run --help``.
REQUIRED_FLAGS = ("--env-no-expand", "--unset-env", "--set-env", "--bind", "--cd")


class CharliecloudRuntime:
    """``ch-run [options] --env-no-expand --unset-env=* --set-env=... -b ... IMAGE -- ARGV``."""

    def __init__(self, executable: str | None = None, options: Sequence[str] = ()) -> None:
        self.executable = executable or "ch-run"
        self.options = tuple(options)

    @property
    def name(self) -> str:
        return "charliecloud"

    def command(self, run: ContainerRun) -> list[str]:
        """The argv; ``run.env`` is the whole environment apart from a default ``PATH``."""
        argv = [self.executable, *self.options, "--env-no-expand", "--unset-env=*"]
        env = {"PATH": DEFAULT_PATH, **run.env}
        argv += [f"--set-env={name}='{value}'" for name, value in env.items()]
        for bind in run.binds:
            reject_chars(bind.source, "source", ":", self.name)
            reject_chars(bind.dest, "target", ":", self.name)
            argv += ["-b", f"{bind.source}:{bind.dest}"]
        if run.workdir is not None:
            argv.append(f"--cd={run.workdir}")
        argv += [run.image, "--", *run.argv]
        return argv

    def check(self, runner: Transport) -> None:
        """Require ch-run and the flags we use (older releases lack ``--env-no-expand``)."""
        result = probe(runner, [self.executable, "--help"], self.name)
        text = result.stdout + result.stderr
        if "$USER not set" in text:
            raise ContainerError(f"{self.name}: ch-run refuses to start without $USER set")
        if not result.ok:
            raise ContainerError(f"{self.name}: {result.describe()}")
        missing = [flag for flag in REQUIRED_FLAGS if flag not in text]
        if missing:
            raise ContainerError(
                f"{self.name}: {self.executable} lacks {', '.join(missing)}; "
                "hpcflow needs Charliecloud >= 0.31"
            )

    def image_problem(self, image: str) -> str | None:
        """Check a local image directory or SquashFS file; names in ch-image storage pass."""
        if not image.startswith(("/", ".")):
            return None  # a name in ch-image storage (e.g. "example.com:5050/foo")
        if not image.startswith("/"):
            return f"image path {image!r} is not absolute (jobs run in another directory)"
        if os.path.isdir(image):
            return python_problem(image)
        if not os.path.exists(image):
            kind = "SquashFS file" if image.endswith(SQUASH_SUFFIXES) else "image directory"
            return f"{kind} {image} does not exist"
        if not os.path.isfile(image):
            return f"image {image} is neither a directory nor a SquashFS file"
        return None


def missing_targets(run: ContainerRun) -> list[str]:
    """Bind targets absent from a directory image: ch-run cannot create them read-only."""
    if not os.path.isdir(run.image):
        return []
    root = os.path.realpath(run.image)
    return [b.dest for b in run.binds if not os.path.exists(os.path.join(root, b.dest.lstrip("/")))]


def require_targets(run: ContainerRun) -> None:
    """Raise ContainerError naming the image and every bind target it lacks."""
    missing = missing_targets(run)
    if missing:
        raise ContainerError(
            f"charliecloud: image {run.image} lacks bind target(s) {', '.join(missing)}; "
            "create them in the image (ch-run mounts it read-only)"
        )
