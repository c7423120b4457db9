"""What every container runtime shares: the run description, binds, and the runtime protocol.

A :class:`ContainerRun` is passive data ("run this argv in image X with these binds, env
and GPUs"); a :class:`ContainerRuntime` turns it into one argv list. Nothing here runs a
command: building argv stays pure so it can be golden-tested and embedded in job scripts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from hpcflow.errors import ContainerError, TransportError
from hpcflow.transport import CommandResult, Transport

GPU = Literal["nvidia", "rocm"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Where the runtime looks for the interpreter inside a directory image; the hpcflow
#: runtime (``python3 -m hpcflow.runtime``) cannot start without one.
PYTHON_CANDIDATES = ("usr/bin/python3", "usr/local/bin/python3", "bin/python3")


@dataclass(frozen=True)
class Bind:
    """A host path mounted into the container.

    Args:
        source: absolute host path.
        target: absolute path inside the container; ``None`` means the same as ``source``.
        read_only: mount read-only where the runtime can (charliecloud 0.31 cannot).
    """

    source: str
    target: str | None = None
    read_only: bool = False

    def __post_init__(self) -> None:
        for what, path in (("source", self.source), ("target", self.target)):
            if path is None:
                continue
            if not isinstance(path, str) or not path.startswith("/"):
                raise ContainerError(f"bind {what} {path!r} must be an absolute path")
            if "\0" in path:
                raise ContainerError(f"bind {what} {path!r} contains a NUL byte")

    @classmethod
    def parse(cls, spec: str, expand: Callable[[str], str] = str) -> Bind:
        """``src[:dst[:ro|rw]]``, the form site files write binds in (the one parser).

        Args:
            expand: applied to ``src`` first (the site file expands ``$VARS`` and ``~``).
        """
        parts = spec.split(":")
        if not parts[0] or len(parts) > 3 or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise ContainerError(f"bind {spec!r} is not 'src', 'src:dst' or 'src:dst:ro'")
        if any(not p for p in parts) or "," in spec:
            raise ContainerError(f"bind {spec!r} has an empty part or a comma")
        return cls(expand(parts[0]), parts[1] if len(parts) > 1 else None,
                   len(parts) == 3 and parts[2] == "ro")

    def spec(self) -> str:
        """Back to ``src[:dst[:ro]]``."""
        if self.target is None and not self.read_only:
            return self.source
        return f"{self.source}:{self.dest}" + (":ro" if self.read_only else "")

    @property
    def dest(self) -> str:
        """The path inside the container."""
        return self.target if self.target is not None else self.source


@dataclass(frozen=True)
class ContainerRun:
    """Run ``argv`` inside ``image``: the runtime-independent description of one launch.

    ``env`` is the *whole* environment the command sees besides what the image sets:
    runtimes start from a clean environment so a job does not depend on the login shell.
    Sequences are frozen into tuples and ``env`` into a read-only mapping.
    """

    image: str
    argv: Sequence[str]
    binds: Sequence[Bind] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    gpu: GPU | None = None

    def __post_init__(self) -> None:
        argv = tuple(self.argv)
        if not argv:
            raise ContainerError("a container run needs a non-empty argv")
        if any(not isinstance(a, str) or "\0" in a for a in argv):
            raise ContainerError(f"argv elements must be strings without NUL bytes: {argv!r}")
        binds = tuple(self.binds)
        if any(not isinstance(b, Bind) for b in binds):
            raise ContainerError(f"binds must be Bind objects, got {binds!r}")
        env = dict(self.env)
        for name, value in env.items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise ContainerError(f"invalid environment variable name {name!r}")
            if not isinstance(value, str) or "\0" in value:
                raise ContainerError(f"environment variable {name} must be a str without NUL")
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise ContainerError(f"workdir {self.workdir!r} must be an absolute path")
        if self.gpu not in (None, "nvidia", "rocm"):
            raise ContainerError(f"unknown gpu kind {self.gpu!r} (expected 'nvidia' or 'rocm')")
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "binds", binds)
        object.__setattr__(self, "env", MappingProxyType(env))


@runtime_checkable
class ContainerRuntime(Protocol):
    """Turns a :class:`ContainerRun` into the argv that starts it, and checks the site."""

    @property
    def name(self) -> str: ...

    def command(self, run: ContainerRun) -> list[str]:
        """The full argv (runtime binary first); raises ContainerError if inexpressible."""
        ...

    def check(self, runner: Transport) -> None:
        """Raise ContainerError when the runtime binary is missing or unusable."""
        ...

    def image_problem(self, image: str) -> str | None:
        """Why a *local* image cannot be used (one line), or None when it looks fine."""
        ...


def probe(runner: Transport, argv: Sequence[str], runtime: str) -> CommandResult:
    """Run a probe command, turning "not installed" into a ContainerError naming the runtime."""
    try:
        result = runner.run(list(argv), timeout=60.0)
    except (TransportError, OSError) as exc:  # OSError: e.g. not executable
        raise ContainerError(f"{runtime}: cannot run {argv[0]!r}: {exc}") from exc
    if result.returncode == 127:  # shells and SSH report a missing command this way
        raise ContainerError(f"{runtime}: {argv[0]!r} is not installed: {result.describe()}")
    return result


def python_problem(directory: str) -> str | None:
    """Why a directory image has no python3, or None (lexists: links may be absolute)."""
    if any(os.path.lexists(os.path.join(directory, rel)) for rel in PYTHON_CANDIDATES):
        return None
    return (
        f"image directory {directory} has no python3 (looked for /{', /'.join(PYTHON_CANDIDATES)})"
    )


def reject_chars(path: str, what: str, chars: str, runtime: str) -> None:
    """Raise ContainerError naming ``path`` if it holds a character the runtime's CLI splits on."""
    bad = sorted({c for c in path if c in chars})
    if bad:
        shown = " or ".join(repr(c) for c in bad)
        raise ContainerError(
            f"{runtime}: bind {what} {path!r} contains {shown}, which the {runtime} command line "
            "cannot express; use a path without it (e.g. a symlink)"
        )
