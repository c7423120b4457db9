"""The dashboard in-process (Starlette's TestClient) over real local-mode workflows.

Every page, the token and Host rules, 404s, the bounded pages of a big fan-out, a log
followed while its step runs, images, and cancel/retry behind --allow-actions + CSRF.
"""

from __future__ import annotations

import html
import re
import sqlite3
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices
from hpcflow.store import Store
from hpcflow.store.reader import StoreReader
from hpcflow.ui.app import create_app
from hpcflow.ui.files import LOG_TAIL_BYTES
from hpcflow.ui.security import Secrets
from tests.integration import ui_ops
from tests.integration import wf_ops as ops

BASE = "http://localhost:8080"


def client_for(home: Path, keys: Secrets | None = None, allow_actions: bool = False,
               authed: bool = True) -> tuple[TestClient, Secrets]:
    keys = keys or Secrets()
    app = create_app(StoreReader(home / "hpcflow.db"), keys, allow_actions=allow_actions)
    client = TestClient(app, base_url=BASE)
    if authed:
        client.cookies.set(keys.cookie_name, keys.session)
    return client, keys


# ------------------------------------------------------------------------ access rules

def test_every_route_refuses_a_request_without_the_token(dash_home):
    home, wf_id = dash_home
    client, keys = client_for(home, authed=False)
    for url in ("/", f"/wf/{wf_id}", f"/wf/{wf_id}/node?path=relax", f"/wf/{wf_id}/log?path=relax",
                f"/wf/{wf_id}/log/chunk?path=relax&attempt=1", f"/wf/{wf_id}/image?path=plot&name=png",
                "/static/style.css", "/static/dashboard.js", "/no/such/route"):
        res = client.get(url)
        assert res.status_code == 403, url
        assert "token" in res.text and "<html" not in res.text
    assert client.get("/", params={"token": "wrong" + keys.token}).status_code == 403
    assert client.get("/", headers={"Authorization": "Bearer nope"}).status_code == 403
    client.cookies.set(keys.cookie_name, "forged")
    assert client.get("/").status_code == 403


def test_the_token_becomes_an_httponly_strict_cookie_and_leaves_the_url(dash_home):
    home, wf_id = dash_home
    client, keys = client_for(home, authed=False)
    res = client.get(f"/wf/{wf_id}", params={"token": keys.token}, follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"] == f"/wf/{wf_id}"
    cookie = res.headers["set-cookie"]
    assert cookie.startswith(f"{keys.cookie_name}={keys.session};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and keys.token not in cookie
    page = client.get(f"/wf/{wf_id}")  # the cookie jar now holds the session
    assert page.status_code == 200 and wf_id in page.text
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "svg.dag" in css.text
    bearer = TestClient(client.app, base_url=BASE).get("/", headers={"Authorization": f"Bearer {keys.token}"})
    assert bearer.status_code == 200


def test_host_header_must_name_the_loopback(dash_home):
    home, _ = dash_home
    client, keys = client_for(home)
    for host in ("evil.example:8080", "localhost.evil.example", "10.0.0.5:8080", ""):
        res = client.get("/", headers={"Host": host})
        assert res.status_code == 400, host
    for host in ("localhost:8080", "127.0.0.1:41999", "[::1]:8080", "localhost"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host


def test_pages_carry_a_strict_content_security_policy(dash_home):
    home, wf_id = dash_home
    client, _ = client_for(home)
    res = client.get(f"/wf/{wf_id}")
    csp = res.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert res.headers["x-content-type-options"] == "nosniff"
    assert "style=" not in res.text and "<script>" not in res.text  # nothing inline to allow


# ------------------------------------------------------------------------------- pages

def test_workflow_list_shows_status_progress_and_filters(dash_home):
    home, wf_id = dash_home
    client, _ = client_for(home)
    page = client.get("/").text
    row = re.search(rf'<tr class="wf status-Failed" data-id="{wf_id}">(.*?)</tr>', page, re.S)
    assert row, page
    # 12 slices (2 failed), plot, relax (failed), a, b, c, 3 inc, never (skipped): done 18, failed 3
    assert "18 / 0 / 3 / 0" in row.group(1)
    assert "local" in row.group(1) and "geometry optimisation did not converge" in row.group(1)
    assert '<meta http-equiv="refresh"' in page
    assert wf_id in client.get("/", params={"status": "Failed"}).text
    assert wf_id not in client.get("/", params={"status": "Running"}).text
    assert wf_id in client.get("/", params={"q": "dashb"}).text
    assert wf_id not in client.get("/", params={"q": "nomatch"}).text
    assert client.get("/", params={"offset": "x"}).status_code == 400


def test_workflow_page_tree_svg_failures_and_keys(dash_home):
    home, wf_id = dash_home
    client, _ = client_for(home)
    page = client.get(f"/wf/{wf_id}").text
    svg = re.search(r"<svg [^>]*class=\"dag\".*?</svg>", page, re.S).group(0)
    # the failed step, the fan-out as one box with its counts, the DAG's edges, recursion,
    # the when-skipped steps
    assert re.search(r'<g class="node phase-Failed type-Pod" data-path="relax"', svg)
    assert re.search(r'data-path="screen" data-phase="Failed"', svg) and "✗2" in svg and "/12" in svg
    assert not re.search(r'data-path="screen\(\d+\)"', svg)  # slices are counts, never boxes
    assert svg.count('class="edge"') >= 2 + 3  # a→b, a→c and the groups of each Steps
    assert "iteration 3" in svg and "countdown/next/next/next" in svg
    assert re.search(r'data-path="never" data-phase="Skipped"', svg) and "skipped: when false" in svg
    failures = re.search(r'<section id="failures">(.*?)</section>', page, re.S).group(1)
    assert ui_ops.ERROR_TEXT in failures and "screen(3)" in failures and "screen(7)" in failures
    assert f'/wf/{wf_id}/log?path=relax' in failures
    assert "key iter-2" in page  # keys shown in the tree
    assert "<meta http-equiv=\"refresh\"" not in page  # a finished workflow does not refresh


def test_unknown_ids_and_paths_are_404(dash_home):
    home, wf_id = dash_home
    client, _ = client_for(home)
    res = client.get("/wf/no-such-workflow")
    assert res.status_code == 404 and "no workflow 'no-such-workflow'" in html.unescape(res.text)
    res = client.get(f"/wf/{wf_id}/node", params={"path": "nope"})
    assert res.status_code == 404 and "has no step 'nope'" in html.unescape(res.text)
    assert client.get("/wf/no-such-workflow/log", params={"path": "x"}).status_code == 404
    assert client.get(f"/wf/{wf_id}/log", params={"path": "relax", "attempt": 9}).status_code == 404
    assert client.get(f"/wf/{wf_id}/log", params={"path": "fork"}).status_code == 404  # no attempts


def test_failed_step_page_attempts_error_resources_and_log(dash_home):
    home, wf_id = dash_home
    client, _ = client_for(home)
    page = client.get(f"/wf/{wf_id}/node", params={"path": "relax"}).text
    assert ui_ops.ERROR_TEXT in re.search(r'id="step-message">(.*?)</dd>', page, re.S).group(1)
    attempt = re.search(r'<tr class="attempt status-failed">(.*?)</tr>', page, re.S).group(1)
    assert ">fatal<" in attempt and "local:" in attempt  # error kind, job id
    import socket

    assert socket.gethostname() in attempt  # the node, from the exit record
    assert ">42<" in page  # the input parameter inline
    log = client.get(f"/wf/{wf_id}/log", params={"path": "relax"}).text
    assert ui_ops.LOG_TEXT in log and ui_ops.ERROR_TEXT in log and 'data-live="0"' in log


def test_step_outputs_show_parameters_and_images_inline(dash_home):
    home, wf_id = dash_home
    client, _ = client_for(home)
    page = client.get(f"/wf/{wf_id}/node", params={"path": "plot"}).text
    imgs = re.findall(r'<img class="artifact" alt="(\w+)" src="([^"]+)"', page)
    assert {alt for alt, _ in imgs} == {"png", "svg"}
    for alt, src in imgs:
        res = client.get(src.replace("&amp;", "&"))
        assert res.status_code == 200
        if alt == "png":
            assert res.headers["content-type"] == "image/png" and res.content == ui_ops.tiny_png(24, 16)
        else:
            assert res.headers["content-type"].startswith("image/svg+xml")
            assert "sandbox" in res.headers["content-security-policy"]
            assert res.text == ui_ops.SVG_PLOT
    assert client.get(f"/wf/{wf_id}/image", params={"path": "plot", "name": "png", "i": 5}).status_code == 404
    assert client.get(f"/wf/{wf_id}/image", params={"path": "plot", "name": "other"}).status_code == 404
    fork_c = client.get(f"/wf/{wf_id}/node", params={"path": "fork/c"}).text
    assert re.search(r"<th>c</th><td class=\"mono value\">7</td>", fork_c)  # outputs inline


def test_fanout_page_counts_and_pages_of_slices(dash_home):
    home, wf_id = dash_home
    client, _ = client_for(home)
    page = client.get(f"/wf/{wf_id}/node", params={"path": "screen"}).text
    assert "10 done" in page and "2 failed" in page and "12 in all" in page
    assert re.findall(r'<tr class="slice phase-(\w+)" data-path="([^"]+)"', page)[:4] == [
        ("Succeeded", "screen(0)"), ("Succeeded", "screen(1)"), ("Succeeded", "screen(2)"), ("Failed", "screen(3)")]
    failed = client.get(f"/wf/{wf_id}/node", params={"path": "screen", "phase": "Failed"}).text
    assert re.findall(r'data-path="(screen\(\d+\))"', failed) == ["screen(3)", "screen(7)"]
    later = client.get(f"/wf/{wf_id}/node", params={"path": "screen", "after": 9}).text
    assert re.findall(r'data-path="(screen\(\d+\))"', later) == ["screen(10)", "screen(11)"]
    assert client.get(f"/wf/{wf_id}/node", params={"path": "screen", "phase": "Bogus"}).status_code == 400
    assert "key" in page and "screen-3" in page


def test_a_big_fanout_is_one_box_and_pages_stay_small(hpcflow_home: Path):
    """300 real slices: the tree never lists them; a page is 50 of them and the next link."""
    wf = Workflow("wide")
    wf.add(Step("many", PythonOPTemplate(ops.square, slices=Slices(input_parameter=["x"], output_parameter=["y"],
                                                                     group_size=50)),
                parameters={"x": [float(i) for i in range(300)]}))
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    client, _ = client_for(hpcflow_home)
    page = client.get(f"/wf/{wf.id}")
    assert page.status_code == 200 and "many(17)" not in page.text and "300 in all" in page.text
    fan = client.get(f"/wf/{wf.id}/node", params={"path": "many"}).text
    shown = re.findall(r'data-path="(many\(\d+\))"', fan)
    assert shown == [f"many({i})" for i in range(50)]
    nxt = re.search(r'<a href="([^"]+)" id="next-page">', fan).group(1).replace("&amp;", "&")
    assert re.findall(r'data-path="(many\(\d+\))"', client.get(f"/wf/{wf.id}/node{nxt}").text)[0] == "many(50)"
    # the stacked output of 300 values is previewed, not printed whole
    assert "… 270 more" in fan


def test_a_running_log_is_followed_by_offset(hpcflow_home: Path, tmp_path: Path):
    go = tmp_path / "go"
    wf = Workflow("talk")
    wf.add(Step("talker", PythonOPTemplate(ui_ops.talk_until), parameters={"go_file": str(go), "lines": 3}))
    wf.submit()
    client, _ = client_for(hpcflow_home)
    deadline = time.monotonic() + 60
    while True:
        res = client.get(f"/wf/{wf.id}/log", params={"path": "talker"})
        if res.status_code == 200 and "first line of a running step" in res.text:
            break
        assert time.monotonic() < deadline, res.text
        time.sleep(0.1)
    assert 'data-live="1"' in res.text and "log-live" in res.text
    offset = int(re.search(r'data-offset="(\d+)"', res.text).group(1))
    chunk = client.get(f"/wf/{wf.id}/log/chunk", params={"path": "talker", "attempt": 1, "offset": offset}).json()
    assert chunk["text"] == "" and chunk["done"] is False
    go.write_text("")
    assert wf.wait(timeout=60) == "Succeeded"
    chunk = client.get(f"/wf/{wf.id}/log/chunk", params={"path": "talker", "attempt": 1, "offset": offset}).json()
    assert chunk["text"] == "later line 0\nlater line 1\nlater line 2\n" and chunk["done"] is True
    assert chunk["end"] == chunk["size"]


def test_a_huge_log_is_shown_by_its_tail(hpcflow_home: Path, tmp_path: Path):
    wf = Workflow("huge")
    wf.add(Step("noisy", PythonOPTemplate(ops.add), parameters={"a": 1}))
    wf.submit()
    assert wf.wait(timeout=60) == "Succeeded"
    attempt_dir = Path(Store(hpcflow_home / "hpcflow.db").attempts(wf.id)[0]["dir"])
    lines = "".join(f"line {i} <script>alert(1)</script> é\n" for i in range(200_000))
    (attempt_dir / "log.txt").write_text(lines + "THE END\n")
    client, _ = client_for(hpcflow_home)
    res = client.get(f"/wf/{wf.id}/log", params={"path": "noisy"})
    assert res.status_code == 200 and len(res.content) < LOG_TAIL_BYTES * 2
    assert "THE END" in res.text and "line 0 " not in res.text and 'id="log-truncated"' in res.text
    assert "<script>alert" not in res.text and "&lt;script&gt;alert(1)" in res.text
    body = re.search(r'<pre id="log"[^>]*>(.*?)</pre>', res.text, re.S).group(1)
    assert body.startswith("line ")  # cut at a line boundary


def test_the_store_is_opened_read_only(dash_home):
    home, wf_id = dash_home
    reader = StoreReader(home / "hpcflow.db")
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        reader.conn.execute("DELETE FROM workflows")
    assert reader.workflow(wf_id)["status"] == "Failed"


def test_a_store_that_does_not_exist_is_a_clear_error(tmp_path: Path):
    from hpcflow.errors import StoreError

    with pytest.raises(StoreError, match="no state store at .*nothing was submitted"):
        StoreReader(tmp_path / "nothing" / "hpcflow.db")
    assert not (tmp_path / "nothing").exists()  # and nothing was created


# ------------------------------------------------------------------------------ actions

def test_without_allow_actions_there_are_no_forms_and_no_action_routes(dash_home):
    home, wf_id = dash_home
    client, keys = client_for(home)
    assert "<form method=\"post\"" not in client.get(f"/wf/{wf_id}").text
    res = client.post(f"/wf/{wf_id}/retry", data={"csrf": keys.csrf})
    assert res.status_code in (404, 405)


def test_cancel_and_retry_need_the_csrf_token(hpcflow_home: Path, tmp_path: Path):
    from hpcflow.client import get_client

    go = tmp_path / "go"
    wf = Workflow("cancelme")
    wf.add(Step("talker", PythonOPTemplate(ui_ops.talk_until), parameters={"go_file": str(go), "lines": 1}))
    wf.submit()
    client, keys = client_for(hpcflow_home, allow_actions=True)
    store = get_client().store
    deadline = time.monotonic() + 60
    while not store.attempts(wf.id, status=("submitted",)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page = client.get(f"/wf/{wf.id}").text
    assert f'action="/wf/{wf.id}/cancel"' in page and keys.csrf in page
    assert client.post(f"/wf/{wf.id}/cancel", data={}).status_code == 403
    assert client.post(f"/wf/{wf.id}/cancel", data={"csrf": "forged"}).status_code == 403
    foreign = client.post(f"/wf/{wf.id}/cancel", data={"csrf": keys.csrf},
                          headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert store.workflow_status(wf.id) == "Running"
    res = client.post(f"/wf/{wf.id}/cancel", data={"csrf": keys.csrf}, follow_redirects=False)
    assert res.status_code == 303 and "cancelled" in res.headers["location"]
    assert store.workflow_status(wf.id) == "Failed"
    assert client.post(f"/wf/{wf.id}/retry", data={}).status_code == 403
    res = client.post(f"/wf/{wf.id}/retry", data={"csrf": keys.csrf})
    assert res.status_code == 200 and "retrying 1 failed step" in res.text
    assert store.get_workflow(wf.id)["status"] in ("Pending", "Running")
    go.write_text("")
    assert get_client().wait(wf.id, timeout=60) == "Succeeded"


def test_the_dashboard_never_imports_the_engine_or_a_scheduler(dash_home):
    """Serving every page loads no engine, scheduler, client or DSL module (a subprocess,
    so nothing the tests imported counts); only --allow-actions brings in the actions."""
    import subprocess
    import sys

    home, wf_id = dash_home
    code = f"""
import sys
from starlette.testclient import TestClient
from hpcflow.store.reader import StoreReader
from hpcflow.ui.app import create_app
from hpcflow.ui.security import Secrets
keys = Secrets()
client = TestClient(create_app(StoreReader({str(home / "hpcflow.db")!r}), keys), base_url="http://localhost",
                    headers={{"Authorization": "Bearer " + keys.token}})
for url in ("/", "/wf/{wf_id}", "/wf/{wf_id}/node?path=relax", "/wf/{wf_id}/node?path=screen",
            "/wf/{wf_id}/node?path=fork", "/wf/{wf_id}/log?path=relax", "/wf/{wf_id}/image?path=plot&name=png"):
    assert client.get(url).status_code == 200, url
prefixes = ("hpcflow.engine", "hpcflow.scheduler", "hpcflow.client", "hpcflow.dsl", "hpcflow.ui.actions")
print(sorted(m for m in sys.modules if m.startswith(prefixes)))
create_app(StoreReader({str(home / "hpcflow.db")!r}), keys, allow_actions=True)
print("hpcflow.ui.actions" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["[]", "True"]


def test_a_store_without_the_ui_indexes_still_serves_and_says_how_to_upgrade(hpcflow_home: Path):
    wf = Workflow("old")
    wf.add(Step("one", PythonOPTemplate(ops.add), parameters={"a": 1}))
    wf.submit()
    assert wf.wait(timeout=60) == "Succeeded"
    db = sqlite3.connect(hpcflow_home / "hpcflow.db")
    for index in ("nodes_child_phases", "nodes_unit_phases", "nodes_outside_fanouts"):
        db.execute(f"DROP INDEX {index}")
    db.execute("DELETE FROM migrations WHERE name = '0004_ui_indexes'")
    db.commit()
    db.close()
    client, _ = client_for(hpcflow_home)
    page = client.get(f"/wf/{wf.id}")
    assert page.status_code == 200 and 'data-path="one" data-phase="Succeeded"' in page.text
    assert "lacks 0004_ui_indexes" in page.text and "hpcflow list" in page.text
    Store(hpcflow_home / "hpcflow.db").close()  # any hpcflow command upgrades it
    assert "lacks 0003" not in client_for(hpcflow_home)[0].get(f"/wf/{wf.id}").text


def test_the_tree_counts_only_attempts_that_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A chained job withdrawn before it ran (its producer failed, on Slurm) is not an
    attempt: a step whose first attempt was withdrawn and whose second ran shows none."""
    from hpcflow.client import reset_clients
    from hpcflow.states import WITHDRAWN_MESSAGE

    home = tmp_path / "home"
    monkeypatch.setenv("HPCFLOW_HOME", str(home))
    monkeypatch.setenv("HPCFLOW_NO_ATEXIT", "1")
    monkeypatch.delenv("HPCFLOW_SITE", raising=False)
    reset_clients()
    wf = Workflow("withdrawn")
    wf.add(Step("solo", PythonOPTemplate(ops.square), parameters={"x": 3.0}))
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    reset_clients()
    client, _ = client_for(home)
    assert " attempts" not in client.get(f"/wf/{wf.id}").text
    # what a withdrawn chained job leaves: attempt 1 cancelled before it ran, attempt 2 ran
    with sqlite3.connect(home / "hpcflow.db") as db:
        db.execute("UPDATE attempts SET number = 2 WHERE workflow_id = ? AND node_path = 'solo'", (wf.id,))
        db.execute("INSERT INTO attempts (workflow_id, node_path, number, dir, tag, backend, status,"
                   " message, created_at) VALUES (?, 'solo', 1, '/nowhere', 't', 'slurm', 'cancelled', ?, 0)",
                   (wf.id, f"{WITHDRAWN_MESSAGE}: a producer failed"))
        db.execute("UPDATE nodes SET attempts = 2 WHERE workflow_id = ? AND path = 'solo'", (wf.id,))
        db.execute("UPDATE workflows SET updated_at = updated_at + 1 WHERE id = ?", (wf.id,))
    page = client.get(f"/wf/{wf.id}").text
    assert "2 attempts" not in page and "solo" in page
    with sqlite3.connect(home / "hpcflow.db") as db:  # a third that ran: now two did
        db.execute("INSERT INTO attempts (workflow_id, node_path, number, dir, tag, backend, status,"
                   " message, created_at) VALUES (?, 'solo', 3, '/nowhere', 't', 'slurm', 'failed', 'x', 0)",
                   (wf.id,))
        db.execute("UPDATE nodes SET attempts = 3 WHERE workflow_id = ? AND path = 'solo'", (wf.id,))
    assert "2 attempts" in client.get(f"/wf/{wf.id}").text
