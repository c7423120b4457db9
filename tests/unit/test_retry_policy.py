"""The retry rule as a pure function, and the state enums' agreement with stored strings."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hpcflow.engine.retry import SYSTEM_RETRIES, RetryCounters, RetryPolicy, Verdict, decide
from hpcflow.states import ErrorKind, Phase, WorkflowStatus


@pytest.mark.parametrize("kind, policy, allowed", [
    (ErrorKind.TRANSIENT, RetryPolicy(on_transient=2), 2),
    (ErrorKind.TRANSIENT, RetryPolicy(on_failure=3), 3),
    (ErrorKind.ERROR, RetryPolicy(on_transient=5), 0),
    (ErrorKind.ERROR, RetryPolicy(on_failure=1), 1),
    (ErrorKind.TIMEOUT, RetryPolicy(on_transient=2), 0),
    (ErrorKind.TIMEOUT, RetryPolicy(on_transient=2, timeout_is_transient=True), 2),
    (ErrorKind.FATAL, RetryPolicy(on_transient=9, on_failure=9), 0),
    (ErrorKind.SYSTEM, RetryPolicy(), SYSTEM_RETRIES),
    (ErrorKind.SYSTEM, RetryPolicy(on_transient=5, on_failure=5), SYSTEM_RETRIES),
])
def test_each_kind_spends_its_own_budget(kind, policy, allowed):
    counters = RetryCounters()
    retries = 0
    while True:
        decision = decide(kind, counters, policy)
        if decision.verdict == Verdict.FAIL:
            break
        retries += 1
        counters = decision.counters
        assert retries <= 20
    assert retries == allowed


def test_system_failures_do_not_use_the_templates_retries():
    policy = RetryPolicy(on_transient=1)
    after_system = decide(ErrorKind.SYSTEM, RetryCounters(), policy).counters
    assert after_system == RetryCounters(retries=0, system_retries=1)
    assert decide(ErrorKind.TRANSIENT, after_system, policy).verdict == Verdict.RETRY


def test_policy_of_a_compiled_template():
    from hpcflow.spec.model import OPTemplateSpec

    tmpl = OPTemplateSpec.from_json({"kind": "python", "name": "t", "retry_on_transient_error": 2,
                                     "retry_on_failure": None, "timeout_as_transient_error": True})
    assert tmpl.retry == RetryPolicy(on_transient=2, timeout_is_transient=True)


def test_enum_members_are_the_stored_strings():
    assert json.dumps([Phase.SUCCEEDED, WorkflowStatus.FAILED]) == '["Succeeded", "Failed"]'
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT ?", (Phase.PENDING,)).fetchone()[0] == "Pending"
    assert f"{ErrorKind.SYSTEM}" == "system" and Phase("Running") is Phase.RUNNING


def test_old_nodes_keep_their_retry_counters_through_the_migration(tmp_path):
    from hpcflow.store import db

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, sql in db.MIGRATIONS[:2]:  # a store as the previous release left it
        conn.executescript(sql)
        conn.execute("INSERT INTO migrations VALUES (?, 0)", (name,))
    conn.execute("INSERT INTO nodes (workflow_id, path, name, type, phase, data, created_at)"
                 " VALUES ('w', 'a', 'a', 'Pod', 'Pending', ?, 0)",
                 (json.dumps({"retries": 2, "system_retries": 1}),))
    conn.commit()
    conn.close()
    node = db.Store(path).load_nodes("w")[0]
    assert (node["retries"], node["system_retries"]) == (2, 1)


def test_attempts_in_flight_in_an_older_store_load_without_a_gone_since(tmp_path):
    # Migration 0007 adds when a job was first seen gone (the lost-job grace period spans
    # cron ticks); a store made before it opens, and its attempts have not been seen gone.
    from hpcflow.store import db

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, sql in db.MIGRATIONS[:6]:  # a store as the release with quiet workflows left it
        conn.executescript(sql)
        conn.execute("INSERT INTO migrations VALUES (?, 0)", (name,))
    conn.execute("INSERT INTO attempts (workflow_id, node_path, number, dir, tag, backend,"
                 " job_id, status, created_at) VALUES ('w', 'a', 1, '/d', 't', 'local', 'j',"
                 " 'submitted', 0)")
    conn.commit()
    conn.close()
    store = db.Store(path)
    assert [row[-1] for row in store.active_attempts("w", ("submitted",))] == [None]
    with store.transaction():
        store.update_attempt("w", "a", 1, gone_since=12.5)
    assert [row[-1] for row in store.active_attempts("w", ("submitted",))] == [12.5]
