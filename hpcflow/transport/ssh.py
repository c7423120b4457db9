"""Run commands on a cluster's login node over SSH, through one multiplexed connection.

The default client is the system's OpenSSH, so everything in the user's ``~/.ssh/config``
works as in their terminal (``ProxyJump``, ``IdentityFile``, GSSAPI, keyboard-interactive
MFA). One *master* connection per site lives on a control socket in a 0700 directory under
``$HPCFLOW_HOME/ssh``; every command is a channel of it (``-o ControlMaster=no``), run with
``BatchMode=yes`` so that an expired login fails at once with "run `hpcflow login SITE`"
instead of waiting at a password prompt nobody sees. ``hpcflow login SITE`` opens the master
in the user's terminal, where they type their one-time code.

Every command has a connect timeout and a command timeout; connection failures raise
transient :class:`~hpcflow.errors.SshError` subclasses, which the engine treats as a
disconnected site (nothing fails, ticks back off). New connections are rate-limited and
channels capped by :class:`~hpcflow.transport.gate.ConnectionGate`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpcflow.errors import SshAuthError, SshDisconnected, SshError, TransportError
from hpcflow.private import make_dirs
from hpcflow.transport.gate import ConnectionGate
from hpcflow.transport.local import CommandResult
from hpcflow.transport.shellquote import classify_failure, remote_command

#: Remote commands run by this process, by program name (tests and benchmarks read it).
SSH_COMMANDS: Counter[str] = Counter()
#: Connections (master logins) this process opened.
SSH_CONNECTIONS: Counter[str] = Counter()

#: Unix socket paths are limited to 108 bytes (104 on BSDs); ssh adds a 17-byte temporary
#: suffix to ours (16 bytes) while it creates the socket.
_MAX_SOCKET_PATH = 104
#: What a channel prints when no master connection is open (see ``_channel``).
_NO_MASTER = "hpcflow-no-master-connection"


def control_dir(home: Path) -> Path:
    """``$HPCFLOW_HOME/ssh`` (0700), or a private directory in /tmp when that path is too
    long for a Unix socket."""
    preferred = Path(home) / "ssh"
    if len(str(preferred)) + 1 + 16 + 17 < _MAX_SOCKET_PATH:
        return make_dirs(preferred)
    fallback = Path(tempfile.gettempdir()) / f"hpcflow-ssh-{os.getuid()}"
    make_dirs(fallback)
    st = fallback.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise SshError(f"{fallback} is not a private directory of this user; set a shorter "
                       "HPCFLOW_HOME for the SSH control socket")
    return fallback


class SshTransport:
    """What both SSH clients share: quoting, counting, timeouts and file transfer helpers.

    Subclasses implement :meth:`exec_bytes` (one command string, bytes in and out),
    :meth:`connect` and :meth:`close`.
    """

    def __init__(self, ssh: Any, site_name: str, home: Path) -> None:
        self.ssh = ssh
        self.site_name = site_name
        self.where = f"{site_name} ({ssh.destination()}{f':{ssh.port}' if ssh.port else ''})"
        self.login_hint = f"hpcflow login {site_name}"
        self.directory = control_dir(home)
        key = f"{ssh.destination()}:{ssh.port or 22}:{ssh.client}"
        self.slot_name = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.gate = ConnectionGate(self.directory, self.slot_name, ssh.max_channels,
                                   ssh.new_connection_interval_s)

    # --- the Transport protocol -----------------------------------------------------------

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = 60.0,
            env: Mapping[str, str] | None = None, cwd: str | None = None) -> CommandResult:
        """Run ``argv`` on the login node; every item arrives there as one word, unchanged."""
        argv = tuple(str(a) for a in argv)
        command = remote_command(argv, env=env, cwd=cwd)
        # `squeue --version` is counted apart: the client's version, no controller query.
        SSH_COMMANDS[Path(argv[0]).name + (" --version" if argv[1:] == ("--version",) else "")] += 1
        rc, out, err = self.exec_bytes(command, input.encode() if input is not None else None,
                                       timeout if timeout is not None else self.ssh.command_timeout_s)
        return CommandResult(argv, rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def exec_bytes(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        raise NotImplementedError

    def connect(self, interactive: bool = False) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _timed_out(self, timeout: float, command: str) -> TransportError:
        err = SshDisconnected(f"{self.where}: `{command[:120]}` did not finish within {timeout:g} s")
        return err


class OpenSshTransport(SshTransport):
    """The system ``ssh`` client with a ControlMaster connection per site."""

    def __init__(self, ssh: Any, site_name: str, home: Path) -> None:
        super().__init__(ssh, site_name, home)
        self.socket = self.directory / self.slot_name

    def _options(self) -> list[str]:
        s = self.ssh
        opts = ["-S", str(self.socket), "-o", f"ConnectTimeout={max(1, round(s.connect_timeout_s))}",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]
        if s.config_file:
            opts += ["-F", s.config_file]
        if s.port:
            opts += ["-p", str(s.port)]
        if s.identity_file:
            opts += ["-i", s.identity_file, "-o", "IdentitiesOnly=yes"]
        if s.known_hosts_file:
            opts += ["-o", f"UserKnownHostsFile={s.known_hosts_file}"]
        return opts

    def _master_alive(self) -> bool:
        if not self.socket.exists():
            return False
        probe = subprocess.run(["ssh", *self._options(), "-O", "check", "--", self.ssh.destination()],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)
        return probe.returncode == 0

    def connect(self, interactive: bool = False) -> None:
        """Open the master connection (in the user's terminal when ``interactive``)."""
        if self._master_alive():
            return
        if not interactive:
            self.gate.new_connection()
        argv = ["ssh", *self._options(), "-M", "-N", "-f",
                "-o", f"ControlPersist={self.ssh.control_persist_s}"]
        if not interactive:
            argv += ["-o", "BatchMode=yes"]
        argv += ["--", self.ssh.destination()]
        SSH_CONNECTIONS[self.site_name] += 1
        if self.socket.exists():
            self.socket.unlink()  # a stale socket of a master that died
        try:
            if interactive:  # the user's terminal: password, one-time code, host key prompt
                proc = subprocess.run(argv, check=False, stderr=subprocess.PIPE, text=True)
            else:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                      timeout=self.ssh.connect_timeout_s + 5, check=False)
        except subprocess.TimeoutExpired:
            raise SshDisconnected(f"{self.where}: no connection within "
                                  f"{self.ssh.connect_timeout_s:g} s") from None
        except FileNotFoundError:
            raise SshError("the OpenSSH client `ssh` is not installed "
                           "(install openssh-client, or set client = \"paramiko\")") from None
        if proc.returncode != 0:
            stderr = proc.stderr or ""
            raise classify_failure(stderr, self.where, self.login_hint) or SshDisconnected(
                f"{self.where}: ssh exited {proc.returncode}: {stderr.strip()[-300:]}")

    def exec_bytes(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        """One channel of the master connection; opens the master first if there is none
        (rate-limited; never when ``auto_connect = false``)."""
        with self.gate.channel(timeout):
            for first in (True, False):
                proc = self._channel(command, stdin, timeout)
                stderr = proc.stderr.decode(errors="replace")
                if proc.returncode == 255 and _NO_MASTER in stderr:
                    if not first:
                        raise SshDisconnected(f"{self.where}: the connection closed at once")
                    if not self.ssh.auto_connect:
                        raise SshAuthError(f"{self.where}: not logged in (no open connection); "
                                           f"run `{self.login_hint}`")
                    self.connect()
                    continue
                if proc.returncode == 255:
                    failure = classify_failure(stderr, self.where, self.login_hint)
                    if failure is not None:
                        raise failure
                return proc.returncode, proc.stdout, proc.stderr
        raise AssertionError("unreachable")

    def _channel(self, command: str, stdin: bytes | None, timeout: float) -> subprocess.CompletedProcess[bytes]:
        # A channel never connects by itself: without a master, the proxy command below
        # fails at once, so no command can open an uncounted, unthrottled connection.
        argv = ["ssh", *self._options(), "-o", "ControlMaster=no", "-o", "BatchMode=yes",
                "-o", f"ProxyCommand=sh -c 'echo {_NO_MASTER} 1>&2'", "-T", "--", self.ssh.destination(),
                command]
        try:
            return subprocess.run(argv, input=stdin if stdin is not None else b"",
                                  capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise self._timed_out(timeout, command) from None

    def close(self) -> None:
        """Close the master connection (``ssh -O exit``)."""
        if self.socket.exists():
            subprocess.run(["ssh", *self._options(), "-O", "exit", "--", self.ssh.destination()],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)


def make_transport(ssh: Any, site_name: str, home: Path) -> SshTransport:
    """The transport the site's ``[ssh] client`` names."""
    if ssh.client == "paramiko":
        from hpcflow.transport.paramiko_transport import ParamikoTransport

        return ParamikoTransport(ssh, site_name, home)
    return OpenSshTransport(ssh, site_name, home)
