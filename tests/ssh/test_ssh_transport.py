"""The SSH transports (OpenSSH with a ControlMaster, and paramiko) against a real sshd."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hpcflow.errors import SshAuthError, SshDisconnected, SshHostKeyError
from hpcflow.transport import files
from hpcflow.transport.ssh import make_transport
from tests.ssh.conftest import make_ssh
from tests.sshd_server import Sshd

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.ssh
HOSTILE = ["it's", '"double"', "$(touch {canary})", "`touch {canary}`", "a\nb", "sp ace",
           "back\\slash", "*", "", "; touch {canary}", "trailing\n", "-n", "ünïcode"]


def _hostile(canary: Path) -> list[str]:
    return [h.format(canary=canary) for h in HOSTILE]


@pytest.fixture
def transport(sshd: Sshd, tmp_path: Path, client_kind: str):
    t = make_transport(make_ssh(sshd, client=client_kind), "testsite", tmp_path / "h")
    yield t
    t.close()


ECHO_ARGS = "import json, os, sys; print(json.dumps([sys.argv[1:], os.getcwd(), os.environ.get('HOSTILE')]))"


def test_hostile_arguments_env_and_cwd_arrive_unchanged(transport, tmp_path: Path):
    canary = tmp_path / "canary"
    args = _hostile(canary)
    cwd = tmp_path / "dir with 'quote' and $(x)\nnewline"
    cwd.mkdir()
    result = transport.run(["python3", "-c", ECHO_ARGS, *args], env={"HOSTILE": args[2]},
                           cwd=str(cwd))
    assert result.ok, result.describe()
    got_args, got_cwd, got_env = json.loads(result.stdout)
    assert got_args == args
    assert got_cwd == str(cwd)
    assert got_env == args[2]
    assert not canary.exists()  # nothing was ever parsed by the remote shell


def test_stdin_and_exit_status_pass_through(transport):
    result = transport.run(["sh", "-c", 'cat; echo err >&2; exit 3'], input="line 1\nline 2\n")
    assert result.returncode == 3
    assert result.stdout == "line 1\nline 2\n"
    assert result.stderr.strip() == "err"


def test_files_round_trip_atomically_with_hostile_paths(transport, tmp_path: Path):
    root = tmp_path / "remote root"
    paths = {f"{root}/{name}/f": f"content of {name!r}".encode() for name in
             ("it's", "new\nline", "$(touch x)", "sp ace")}
    paths[f"{root}/bin"] = bytes(range(256))
    files.write_files(transport, paths, str(root), timeout=30)
    for path, content in paths.items():
        assert Path(path).read_bytes() == content
    assert not list(root.glob(".hpcflow-incoming*"))  # the temporary directory is gone
    assert files.read_files(transport, [*paths, f"{root}/missing"], timeout=30) == paths
    assert files.read_trees(transport, [str(root)], timeout=30) == paths
    assert files.read_files(transport, [f"{root}/missing"], timeout=30) == {}


def test_many_commands_and_processes_share_one_login(sshd: Sshd, tmp_path: Path):
    ssh = make_ssh(sshd)
    t = make_transport(ssh, "testsite", tmp_path / "h")
    try:
        for i in range(20):
            assert t.run(["echo", str(i)]).stdout == f"{i}\n"
        # another process (a CLI command, cron's tick) reuses the same master connection
        code = ("import sys; from pathlib import Path; from hpcflow.site.models import Ssh;"
                "from hpcflow.transport.ssh import make_transport;"
                f"t = make_transport(Ssh.model_validate({sshd.ssh_table()!r}), 'testsite', Path({str(tmp_path / 'h')!r}));"
                "print(t.run(['hostname']).ok)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=REPO, timeout=60)
        assert out.stdout.strip() == "True", out.stderr
    finally:
        t.close()
    assert sshd.authentications() == 1
    assert sshd.sessions() == 21


def test_at_most_max_channels_commands_at_once(sshd: Sshd, tmp_path: Path, client_kind: str):
    t = make_transport(make_ssh(sshd, client=client_kind, max_channels=2), "testsite", tmp_path / "h")
    log = tmp_path / "overlap.log"
    code = ("import sys, time; f = open(sys.argv[1], 'a'); f.write(f'{time.time()} 1\\n'); f.flush();"
            "time.sleep(0.4); f.write(f'{time.time()} -1\\n')")
    try:
        t.run(["true"])  # connect first: the rate limit allows one connection
        threads = [threading.Thread(target=t.run, args=(["python3", "-c", code, str(log)],))
                   for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        t.close()
    events = sorted((float(ts), int(d)) for ts, d in (line.split() for line in log.read_text().splitlines()))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert len(events) == 12
    assert peak == 2


def test_wrong_key_is_one_clear_error_within_the_connect_timeout(sshd: Sshd, tmp_path: Path,
                                                                  client_kind: str):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    t = make_transport(make_ssh(sshd, client=client_kind, identity_file=str(other),
                                connect_timeout_s=5), "testsite", tmp_path / "h")
    started = time.monotonic()
    with pytest.raises(SshAuthError) as err:
        t.run(["true"])
    assert time.monotonic() - started < 5 + 2  # it fails, it does not hang
    assert "hpcflow login testsite" in str(err.value)
    assert sshd.authentications() == 0


def test_unknown_host_is_one_clear_error(sshd: Sshd, tmp_path: Path, client_kind: str):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    t = make_transport(make_ssh(sshd, client=client_kind, known_hosts_file=str(empty),
                                connect_timeout_s=5), "testsite", tmp_path / "h")
    started = time.monotonic()
    with pytest.raises(SshHostKeyError) as err:
        t.run(["true"])
    assert time.monotonic() - started < 5 + 2
    assert "host key" in str(err.value)


def test_expired_login_says_run_hpcflow_login(sshd: Sshd, tmp_path: Path):
    """A site where only `hpcflow login` may open connections (one-time passwords)."""
    t = make_transport(make_ssh(sshd, auto_connect=False, connect_timeout_s=5), "testsite",
                       tmp_path / "h")
    with pytest.raises(SshAuthError, match="run `hpcflow login testsite`"):
        t.run(["true"])  # never logged in
    t.connect(interactive=False)  # what `hpcflow login` does, here with the key
    assert t.run(["echo", "ok"]).stdout == "ok\n"
    t.close()  # the master expires
    started = time.monotonic()
    with pytest.raises(SshAuthError, match="run `hpcflow login testsite`"):
        t.run(["true"])
    assert time.monotonic() - started < 5
    assert sshd.authentications() == 1  # no login was attempted behind the user's back


def test_new_connections_are_rate_limited(sshd: Sshd, tmp_path: Path, client_kind: str):
    t = make_transport(make_ssh(sshd, client=client_kind, new_connection_interval_s=3600),
                       "testsite", tmp_path / "h")
    try:
        assert t.run(["true"]).ok
        sshd.stop()  # the connection drops
        sshd.start()
        with pytest.raises(SshDisconnected, match="new_connection_interval_s"):
            t.run(["true"])
            t.run(["true"])  # (paramiko may notice the drop only at the second command)
    finally:
        t.close()
    assert sshd.authentications() == 1
