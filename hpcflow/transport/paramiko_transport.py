"""The SSH transport through paramiko, for machines without an OpenSSH client.

Same interface, limits and errors as :class:`~hpcflow.transport.ssh.OpenSshTransport`: one
connection per process (opened on first use, rate-limited, reopened after a drop), every
command a channel of it, at most ``max_channels`` at once. paramiko cannot hand its
connection to another process, so ``hpcflow login`` only checks that a login works: sites
that need a one-time code at every login want the OpenSSH client.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from hpcflow.errors import SshAuthError, SshDisconnected, SshError, SshHostKeyError
from hpcflow.transport.ssh import SSH_CONNECTIONS, SshTransport


def _paramiko() -> Any:
    try:
        import paramiko
    except ImportError:
        raise SshError("client = \"paramiko\" needs paramiko: pip install 'hpcflow[paramiko]'") from None
    return paramiko


class ParamikoTransport(SshTransport):
    """An SSH connection held by this process through paramiko."""

    def __init__(self, ssh: Any, site_name: str, home: Path) -> None:
        super().__init__(ssh, site_name, home)
        self._client: Any = None
        self._lock = threading.Lock()

    def _alive(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def connect(self, interactive: bool = False) -> None:
        with self._lock:
            if self._alive():
                return
            if not interactive and not self.ssh.auto_connect and self._client is None:
                raise SshAuthError(f"{self.where}: not logged in; run `{self.login_hint}`")
            self.gate.new_connection()
            self._client = self._open()

    def _open(self) -> Any:
        paramiko = _paramiko()
        s = self.ssh
        client = paramiko.SSHClient()
        if s.known_hosts_file:
            client.load_host_keys(s.known_hosts_file)
        else:
            client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        SSH_CONNECTIONS[self.site_name] += 1
        try:
            client.connect(
                s.host, port=s.port or 22, username=s.user, key_filename=s.identity_file,
                look_for_keys=s.identity_file is None, allow_agent=s.identity_file is None,
                timeout=s.connect_timeout_s, banner_timeout=s.connect_timeout_s,
                auth_timeout=s.connect_timeout_s,
            )
        except paramiko.BadHostKeyException as exc:
            raise SshHostKeyError(f"{self.where}: the server's host key changed ({exc}); check "
                                  "it before trusting it") from None
        except paramiko.AuthenticationException as exc:
            raise SshAuthError(f"{self.where}: the server refused to log in ({exc}); check "
                               f"identity_file and run `{self.login_hint}`") from None
        except paramiko.SSHException as exc:
            if "known_hosts" in str(exc) or "host key" in str(exc).lower():
                raise SshHostKeyError(f"{self.where}: the server's host key is not known ({exc}); "
                                      f"accept it once with `ssh` first") from None
            raise SshDisconnected(f"{self.where}: not connected ({exc})") from None
        except (OSError, EOFError) as exc:
            raise SshDisconnected(f"{self.where}: not connected ({exc})") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def exec_bytes(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        with self.gate.channel(timeout):
            self.connect()
            try:
                return self._exec(command, stdin, timeout)
            except (OSError, EOFError, _paramiko().SSHException) as exc:
                raise SshDisconnected(f"{self.where}: the connection failed ({exc})") from None

    def _exec(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        chan = self._client.get_transport().open_session(timeout=self.ssh.connect_timeout_s)
        try:
            chan.exec_command(command)
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                busy = False
                if chan.recv_ready():
                    out += chan.recv(65536)
                    busy = True
                if chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                    busy = True
                if not busy:
                    if chan.exit_status_ready():
                        break
                    if time.monotonic() > deadline:
                        raise self._timed_out(timeout, command)
                    time.sleep(0.002)
            return chan.recv_exit_status(), bytes(out), bytes(err)
        finally:
            chan.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
