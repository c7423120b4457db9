"""The one string hpcflow hands to a remote shell, and what an SSH client's failure means.

sshd runs a command *string* through the user's login shell, whatever the client sends, so
every argument is quoted here with :func:`shlex.quote` (POSIX single quotes: nothing inside
is interpreted, newlines included). No user data reaches a remote shell any other way.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from hpcflow.errors import SshAuthError, SshDisconnected, SshError, SshHostKeyError

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def remote_command(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                   cwd: str | None = None) -> str:
    """``cd -- CWD && exec env K=V... ARGV...``, every item quoted as one shell word."""
    if not argv:
        raise ValueError("an empty command")
    words = [str(a) for a in argv]
    if any("\0" in w for w in words):
        raise SshError("a NUL byte cannot be sent in a remote command")
    if env:
        for key in env:
            if not _ENV_KEY.match(key):
                raise SshError(f"environment variable name {key!r} is not a valid identifier")
        words = ["env", *(f"{k}={v}" for k, v in env.items()), *words]
    text = "exec " + " ".join(shlex.quote(w) for w in words)
    if cwd is not None:
        text = f"cd -- {shlex.quote(str(cwd))} && {text}"
    return text


_AUTH = ("permission denied", "too many authentication failures", "no more authentication methods",
         "authentication failed", "passphrase")
_HOST_KEY = ("host key verification failed", "remote host identification has changed",
             "host key is known for")
_NETWORK = ("connection refused", "connection timed out", "operation timed out",
            "no route to host", "could not resolve hostname", "name or service not known",
            "connection closed", "connection reset", "broken pipe", "kex_exchange_identification",
            "network is unreachable", "banner exchange", "lost connection",
            "control socket connect", "mux_client", "master is not running",
            "unable to connect", "timeout, server")


def classify_failure(stderr: str, where: str, login_hint: str) -> SshError | None:
    """The error an SSH client's own failure (exit 255) stands for, or ``None`` when the
    message is the remote command's (which may exit 255 as well)."""
    text = stderr.lower()
    tail = " | ".join(stderr.strip().splitlines()[-2:])
    if any(p in text for p in _HOST_KEY):
        return SshHostKeyError(
            f"{where}: the server's host key is not the one known for it ({tail}); check it and "
            f"accept it once with `ssh` or `{login_hint}`")
    if any(p in text for p in _AUTH):
        return SshAuthError(f"{where}: the server refused to log in ({tail}); run `{login_hint}`")
    if any(p in text for p in _NETWORK):
        return SshDisconnected(f"{where}: not connected ({tail})")
    return None
