"""Fixtures of the SSH tests: a real sshd on 127.0.0.1 (tests/sshd_server.py) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sshd_server import Sshd, sshd_or_skip


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = sshd_or_skip(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["openssh", "paramiko"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_ssh(server: Sshd, **extra: object):  # type: ignore[no-untyped-def]
    from hpcflow.site.models import Ssh

    return Ssh.model_validate(server.ssh_table(**extra))


def short_home(tmp_path: Path) -> Path:
    return tmp_path / "h"
