"""Shared fixtures: every test gets its own hpcflow home (store, work directories)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def hpcflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh HPCFLOW_HOME in local mode; the client cache is reset around the test."""
    from hpcflow.client import reset_clients

    home = tmp_path / "hpcflow-home"
    monkeypatch.setenv("HPCFLOW_HOME", str(home))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    monkeypatch.delenv("HPCFLOW_SITE", raising=False)
    monkeypatch.delenv("HPCFLOW_SUBMIT_ONLY", raising=False)
    reset_clients()
    yield home
    reset_clients()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _upload_packages_restored() -> Iterator[None]:
    """``upload_packages`` is a process-wide list (as in Dflow) that workflow modules append
    to: each test starts from the list as it was, so one test's packages do not ship with
    the next test's OPs."""
    from hpcflow.python import upload_packages

    before = list(upload_packages)
    yield
    upload_packages[:] = before
