"""A real OpenSSH server (Debian's ``openssh-server``) on 127.0.0.1 for the SSH tests.

Each server gets its own directory with a host key, a client key pair authorised for the
current user, an ``sshd_config`` (``LogLevel VERBOSE``, so every authentication is a line
``Accepted publickey ...`` in its own log), a ``known_hosts`` file, and a spare port. It
runs in the foreground mode (``sshd -D -e``) as our child and is stopped by its PID; the
per-connection processes it forked are found through ``/proc`` as its descendants.
Without ``sshd`` the tests skip, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


class SshdUnavailable(RuntimeError):
    """openssh-server is not installed or did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "hpcflow-test", "-f", str(path)],
                   check=True, capture_output=True)


@dataclass
class Sshd:
    """A running test server and the files a client needs to reach it."""

    root: Path
    port: int
    user: str
    key: Path
    known_hosts: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> None:
        """Start (or start again) listening on the same port with the same keys."""
        if self.proc is not None and self.proc.poll() is None:
            return
        logf = open(self.log, "ab")  # noqa: SIM115 - the server's stderr, kept open for its life
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
        )
        logf.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SshdUnavailable(f"sshd exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise SshdUnavailable(f"sshd did not listen on port {self.port}")

    def stop(self) -> None:
        """Stop the server and every connection it serves (its descendant processes)."""
        if self.proc is None:
            return
        pids = [self.proc.pid, *_descendants(self.proc.pid)]
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def authentications(self) -> int:
        """How many logins the server accepted (lines ``Accepted publickey for ...``)."""
        return self.log_text().count("Accepted publickey")

    def sessions(self) -> int:
        """How many command channels the server started (``Starting session: command``)."""
        return self.log_text().count("Starting session: command")

    def ssh_table(self, **extra: object) -> dict[str, object]:
        """An ``[ssh]`` table of a site file pointing at this server."""
        table: dict[str, object] = {
            "host": self.host, "user": self.user, "port": self.port,
            "identity_file": str(self.key), "known_hosts_file": str(self.known_hosts),
        }
        table.update(extra)
        return table


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _write_config(root: Path, port: int, user: str, authorized: Path) -> None:
    (root / "sshd_config").write_text(
        "\n".join([
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {root / 'host_ed25519'}",
            f"PidFile {root / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            f"AllowUsers {user}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "UsePAM no",
            "StrictModes no",
            "LogLevel VERBOSE",
            "MaxSessions 10",
            "MaxStartups 10:30:60",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "",
        ])
    )


def make_sshd(root: Path) -> Sshd:
    """Keys and configuration for a server in ``root`` (not started)."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        raise SshdUnavailable("openssh-server/openssh-client are not installed "
                              "(apt-get install openssh-server openssh-client rsync)")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    _keygen(root / "host_ed25519")
    _keygen(root / "client_key")
    authorized = root / "authorized_keys"
    shutil.copy(root / "client_key.pub", authorized)
    os.chmod(authorized, 0o600)
    port = free_port()
    user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    _write_config(root, port, user, authorized)
    host_pub = (root / "host_ed25519.pub").read_text().split()
    known = root / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    return Sshd(root=root, port=port, user=user, key=root / "client_key", known_hosts=known,
                log=root / "sshd.log")


@contextmanager
def running_sshd(root: Path) -> Iterator[Sshd]:
    server = make_sshd(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sshd_or_skip(root: Path) -> Sshd:
    """A started server, or a skip (a failure under CI=true) saying why there is none."""
    try:
        server = make_sshd(root)
        server.start()
        return server
    except (SshdUnavailable, subprocess.CalledProcessError, OSError) as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but the test sshd cannot start: {exc}", pytrace=False)
        pytest.skip(f"the test sshd cannot start: {exc}")
