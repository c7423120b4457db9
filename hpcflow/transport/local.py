"""Run commands on this machine, as argv lists, with a timeout and captured output."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hpcflow.errors import TransportError

_inherited = threading.local()


def inherit_in_commands(fd: int, on: bool = True) -> None:
    """Let (or stop letting) every command this thread runs inherit ``fd``.

    The tick lock is passed on this way: a command started by a tick holds the lock until it
    ends, even if the engine that started it was killed, so the next engine cannot look for
    a job by its tag while the dead engine's ``sbatch`` for it is still on its way.
    """
    fds: set[int] = _inherited.__dict__.setdefault("fds", set())
    if on:
        fds.add(fd)
    else:
        fds.discard(fd)


@dataclass(frozen=True)
class CommandResult:
    """What a finished command returned."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line naming the command, its exit code and the tail of stderr, for errors."""
        tail = self.stderr.strip().splitlines()[-3:]
        return f"`{' '.join(self.argv)}` exited {self.returncode}: {' | '.join(tail)}"


class Transport(Protocol):
    """Runs argv lists somewhere (this machine, or a login node over SSH)."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult: ...


class LocalTransport:
    """Runs commands with :mod:`subprocess` on this machine."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = 60.0,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        try:
            proc = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                check=False,
                pass_fds=tuple(sorted(_inherited.__dict__.get("fds", ()))),
            )
        except FileNotFoundError as exc:
            raise TransportError(f"command not found: {argv[0]!r} ({exc})") from exc
        except subprocess.TimeoutExpired as exc:
            err = TransportError(f"`{' '.join(argv)}` did not finish within {timeout} s")
            err.transient = True
            raise err from exc
        return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)
