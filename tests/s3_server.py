"""Start and stop a real S3-compatible server (moto_server) on 127.0.0.1 for tests.

Used by the S3 unit and integration tests as a context manager or through
:func:`s3_server_fixture`. The server is stopped by its own PID, never by name. When it
cannot start, tests skip, except under ``CI=true`` where a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "hpcflow-test-access"
SECRET_KEY = "hpcflow-test-secret-9f3c1e7b2a"
REGION = "us-east-1"


class S3ServerUnavailable(RuntimeError):
    """moto_server is not installed or did not come up."""


@dataclass(frozen=True)
class S3Server:
    """A running server: where it listens and the credentials tests should use."""

    endpoint_url: str
    pid: int
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    log_path: Path = field(default_factory=Path)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point S3 clients at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "HPCFLOW_TEST_S3_ENDPOINT": self.endpoint_url,
        }

    def client(self) -> Any:
        """A plain boto3 client, for setting up buckets and inspecting objects."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def new_bucket(self) -> str:
        """Create a uniquely named bucket so tests never see each other's objects."""
        name = f"hpcflow-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    beside = Path(sys.executable).with_name("moto_server")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("moto_server")
    if found:
        return [found]
    return [sys.executable, "-m", "moto.server"]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise S3ServerUnavailable(f"moto_server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise S3ServerUnavailable(f"moto_server did not answer on {url} within {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def running_s3_server(timeout: float = 30.0, attempts: int = 3) -> Iterator[S3Server]:
    """Run moto_server on a free 127.0.0.1 port for the duration of the block."""
    log_dir = Path(tempfile.mkdtemp(prefix="hpcflow-moto-"))
    last: Exception | None = None
    for attempt in range(attempts):
        port = _free_port()
        log_path = log_dir / f"moto-{attempt}.log"
        try:
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [*_command(), "-H", "127.0.0.1", "-p", str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
        except OSError as exc:
            raise S3ServerUnavailable(f"cannot run moto_server: {exc}") from exc
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc, timeout)
        except S3ServerUnavailable as exc:  # port taken in between, or slow start: retry
            _stop(proc)
            last = exc
            continue
        try:
            yield S3Server(endpoint_url=url, pid=proc.pid, log_path=log_path)
        finally:
            _stop(proc)
            shutil.rmtree(log_dir, ignore_errors=True)
        return
    raise S3ServerUnavailable(f"{last}; see {log_dir}")


def s3_server_fixture() -> Iterator[S3Server]:
    """Body of a pytest fixture: yield a server, skip (or fail under CI=true) without one."""
    try:
        ctx = running_s3_server()
        server = ctx.__enter__()
    except S3ServerUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the S3 test server could not start: {exc}")
        pytest.skip(f"S3 test server unavailable: {exc}")
    try:
        yield server
    finally:
        ctx.__exit__(None, None, None)
