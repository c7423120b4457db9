"""Another process holding the store's write lock: readers go on, a writer that waits too
long gets one clear StoreError, never sqlite3's "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcflow.errors import StoreError
from hpcflow.store.db import Store

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE daemon SET heartbeat = heartbeat")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
conn.execute("COMMIT")
"""


@pytest.fixture
def locked_store(tmp_path: Path) -> Iterator[Path]:
    db = tmp_path / "home" / "hpcflow.db"
    Store(db).close()  # created and migrated
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLDER), str(db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    try:
        yield db
    finally:
        proc.communicate(timeout=30)


def test_readers_open_the_store_while_another_process_writes(locked_store: Path):
    store = Store(locked_store)  # no write transaction just to check the migrations
    assert store.list_workflows() == []
    store.close()


def test_a_writer_that_waits_too_long_gets_a_store_error(locked_store: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(Store, "busy_timeout_s", 0.3)
    store = Store(locked_store)
    with pytest.raises(StoreError, match=f"{locked_store} stayed locked by another process"):
        store.heartbeat()
    store.close()
