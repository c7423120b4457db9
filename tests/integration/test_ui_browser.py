"""A real browser on a running ``hpcflow ui --port``: Debian's headless Chromium.

Chromium loads the printed URL (the token is exchanged for the cookie by a redirect, as
in a user's browser), runs the page's script, and dumps the DOM; the test checks the
failed step, its error, its log and the DAG's SVG there, and saves a screenshot (to
``$HPCFLOW_UI_SCREENSHOT`` too when set: that is how docs/dashboard.png is made).
scripts/test.sh installs chromium; in CI (CI=true) this test must run.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import in_ci
from tests.integration import ui_ops
from tests.integration.test_ui_server import running_ui, token_of


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if in_ci():
            pytest.fail("chromium is not installed (scripts/test.sh installs the Debian package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browse(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def dom(tmp_path: Path, url: str) -> str:
    proc = browse(tmp_path, url, "--dump-dom", "--virtual-time-budget=3000")
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def test_chromium_shows_the_failed_step_its_error_its_log_and_the_svg(dash_home, tmp_path: Path):
    home, wf_id = dash_home
    with running_ui(home, "--port", "0") as (_, banner):
        port = int(re.search(r"on 127\.0\.0\.1:(\d+)", banner).group(1))
        base, token = f"http://127.0.0.1:{port}", token_of(banner)

        page = dom(tmp_path, f"{base}/wf/{wf_id}?token={token}")
        svg = re.search(r'<svg [^>]*class="dag".*?</svg>', page, re.S)
        assert svg, page[:3000]
        assert re.search(r'<g class="node phase-Failed type-Pod" data-path="relax" data-phase="Failed">', svg.group(0))
        assert re.search(r'data-path="fork/b" data-phase="Succeeded"', svg.group(0))  # the DAG's tasks
        failures = re.search(r'<section id="failures">(.*?)</section>', page, re.S).group(1)
        row = re.search(r'<tr class="failed-step" data-path="relax">(.*?)</tr>', failures, re.S).group(1)
        assert ui_ops.ERROR_TEXT in html.unescape(row)
        log_url = html.unescape(re.search(r'<a class="log-link" href="([^"]+)"', row).group(1))

        log = dom(tmp_path, f"{base}{log_url}&token={token}")
        text = html.unescape(re.search(r'<pre id="log"[^>]*>(.*?)</pre>', log, re.S).group(1))
        assert f"{ui_ops.LOG_TEXT} (iteration 4)" in text and ui_ops.ERROR_TEXT in text

        shot = tmp_path / "dashboard.png"
        proc = browse(tmp_path, f"{base}/wf/{wf_id}?token={token}", f"--screenshot={shot}",
                      "--window-size=1280,1400", "--hide-scrollbars")
        assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 1400)
    assert len(data) > 30_000  # a page, not a blank or an error text
    if os.environ.get("HPCFLOW_UI_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["HPCFLOW_UI_SCREENSHOT"])


def test_chromium_without_the_token_gets_nothing(dash_home, tmp_path: Path):
    home, wf_id = dash_home
    with running_ui(home, "--port", "0") as (_, banner):
        port = int(re.search(r"on 127\.0\.0\.1:(\d+)", banner).group(1))
        page = dom(tmp_path, f"http://127.0.0.1:{port}/wf/{wf_id}")
    assert "missing or wrong token" in page and "relax" not in page
