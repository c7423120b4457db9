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


@pytest.fixture
def slurm_up() -> None:
    """The real Slurm test cluster must answer (a failure under CI=true, else a skip)."""
    import os

    from tests.slurm.conftest import _cluster_problem

    problem = _cluster_problem()
    if problem is None:
        os.environ.setdefault("USER", "root" if os.geteuid() == 0 else str(os.geteuid()))
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {problem}", pytrace=False)
    pytest.skip(problem)


REPO_ROOT = Path(__file__).resolve().parents[2]
SLURM_DEFAULTS = {"cpus": 1, "memory": "200M", "time": "00:10:00", "partition": "debug"}


def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def write_site(path: Path, server: Sshd, *, name: str, work_root: str | None = None,
               engine: str = "remote", **ssh: object) -> Path:
    """A site file for the Slurm test cluster reached through ``server``."""
    lines = [f"name = {_toml(name)}", 'scheduler = "slurm"', "exit_record_grace_s = 10"]
    if work_root is not None:
        lines.append(f"work_root = {_toml(work_root)}")
    lines.append("[defaults]")
    lines += [f"{k} = {_toml(v)}" for k, v in SLURM_DEFAULTS.items()]
    lines.append("[ssh]")
    table = server.ssh_table(engine=engine, **ssh)
    lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
