"""``hpcflow ui`` as users run it: the installed command, its socket, its port, its token.

The other-user test creates a Unix user, runs a client as that user (``runuser``) and
removes the user afterwards; it needs root, and in CI (CI=true) it must run.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.conftest import in_ci

REPO = Path(__file__).resolve().parents[2]


def hpcflow_command() -> str:
    script = Path(sys.executable).parent / "hpcflow"
    assert script.exists(), f"no installed hpcflow command beside {sys.executable} (pip install -e '.[test]')"
    return str(script)


@contextmanager
def running_ui(home: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``hpcflow ui ARGS`` over ``home``; yield the process and its banner."""
    env = dict(os.environ, HPCFLOW_HOME=str(home))
    proc = subprocess.Popen([hpcflow_command(), "ui", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        for _ in range(3 if "--port" not in args else 4):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
        banner = "".join(lines)
        assert "token=" in banner, banner + (proc.stdout.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        yield proc, banner
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def token_of(banner: str) -> str:
    return re.search(r"token=([\w-]+)", banner).group(1)  # type: ignore[union-attr]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=20)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def uds_get(path: str, url: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = UnixHTTPConnection(path)
    conn.request("GET", url, headers={"Host": "localhost:8080", **(headers or {})})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def test_default_is_a_0600_socket_in_a_0700_dir_with_the_ssh_line(dash_home):
    home, wf_id = dash_home
    sock = home / "ui" / "ui.sock"
    with running_ui(home) as (proc, banner):
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        user, host = os.environ.get("USER") or __import__("getpass").getuser(), socket.gethostname()
        assert f"ssh -N -L 8080:{sock} {user}@{host}" in banner, banner
        assert re.search(r"then open: +http://localhost:8080/\?token=[\w-]{40,}", banner), banner
        token = token_of(banner)
        assert uds_get(str(sock), "/").status == 403
        first = uds_get(str(sock), f"/wf/{wf_id}?token={token}")
        assert first.status == 303
        cookie = first.getheader("set-cookie").split(";")[0]
        page = UnixHTTPConnection(str(sock))
        page.request("GET", f"/wf/{wf_id}", headers={"Host": "localhost:8080", "Cookie": cookie})
        resp = page.getresponse()
        body = resp.read().decode()
        assert resp.status == 200 and 'data-path="relax"' in body
        # a second server on the same socket is refused in one line, exit status 2
        again = subprocess.run([hpcflow_command(), "ui"], capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, HPCFLOW_HOME=str(home)))
        assert again.returncode == 2 and "another hpcflow ui already serves" in again.stderr
    assert not sock.exists()  # removed on exit


def _other_user_connect(user: str, path: Path) -> str:
    """Connect to ``path`` as ``user``; what happened: EACCES, ENOENT... or the HTTP status."""
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except OSError as e:\n"
        "    import errno; print(errno.errorcode[e.errno]); sys.exit(0)\n"
        "s.sendall(b'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n')\n"
        "print(s.recv(64).split(b'\\r\\n')[0].decode())\n"
    )
    proc = subprocess.run(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", code, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def other_user() -> Iterator[str]:
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("CI runs as root; this test creates a Unix user")
        pytest.skip("creating a test user needs root")
    name = f"hpcui{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


def test_another_user_gets_permission_denied_on_the_socket(dash_home, other_user):
    home, _ = dash_home
    with running_ui(home):
        assert _other_user_connect(other_user, home / "ui" / "ui.sock") == "EACCES"
    # The socket's own mode holds even in a directory open to everyone (under /tmp, so
    # that no directory of the test tree has to be opened).
    open_dir = Path(tempfile.mkdtemp(prefix="hpcflow-ui-test-", dir="/tmp"))
    try:
        os.chmod(open_dir, 0o755)
        sock = open_dir / "dash.sock"
        with running_ui(home, "--socket", str(sock)) as (_, banner):
            assert f"-L 8080:{sock} " in banner
            assert _other_user_connect(other_user, sock) == "EACCES"
            os.chmod(sock, 0o666)  # the control: with an open mode the same client gets through
            assert _other_user_connect(other_user, sock) == "HTTP/1.1 403 Forbidden"
    finally:
        shutil.rmtree(open_dir, ignore_errors=True)


def _listening_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if int(hexport, 16) == port and state == "0A":  # LISTEN
                found.add(addr)
    return found


def test_port_mode_listens_on_loopback_only_and_needs_the_token(dash_home):
    home, wf_id = dash_home
    with running_ui(home, "--port", "0") as (_, banner):
        port = int(re.search(r"on 127\.0\.0\.1:(\d+)", banner).group(1))
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
        assert f"ssh -N -L 8080:127.0.0.1:{port} " in banner
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/wf/{wf_id}", timeout=20)
        assert refused.value.code == 403
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = opener.open(f"{base}/wf/{wf_id}?token={token_of(banner)}", timeout=20)
        assert page.status == 200 and page.geturl() == f"{base}/wf/{wf_id}"  # the token left the URL
        assert 'data-path="relax"' in page.read().decode()
        assert opener.open(f"{base}/static/dashboard.js", timeout=20).status == 200
        rebinding = urllib.request.Request(f"{base}/", headers={"Host": f"attacker.example:{port}"})
        with pytest.raises(urllib.error.HTTPError) as bad_host:
            opener.open(rebinding, timeout=20)
        assert bad_host.value.code == 400


def test_a_busy_port_is_one_clear_error(dash_home):
    home, _ = dash_home
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run([hpcflow_command(), "ui", "--port", str(port)], capture_output=True, text=True,
                              timeout=30, env=dict(os.environ, HPCFLOW_HOME=str(home)))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"hpcflow: error: port {port} on 127.0.0.1 is in use; choose another --port"


def test_without_the_extra_it_names_the_pip_extra(tmp_path: Path):
    code = ("import sys; sys.modules['starlette'] = None; sys.argv = ['hpcflow', 'ui'];"
            " from hpcflow.cli.main import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, HPCFLOW_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO)))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "hpcflow: error: hpcflow ui needs starlette: pip install 'hpcflow[ui]'"]


def test_no_store_yet_is_one_clear_error(tmp_path: Path):
    proc = subprocess.run([hpcflow_command(), "ui"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, HPCFLOW_HOME=str(tmp_path / "empty")))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("hpcflow: error: no state store at")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "empty" / "ui" / "ui.sock").exists()
