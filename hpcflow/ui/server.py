"""Serve the dashboard: on a private Unix socket (the default) or on 127.0.0.1:PORT.

The socket lives in ``$HPCFLOW_HOME/ui/`` (mode 0700) and is itself 0600, so on a shared
login node no other user can connect; the user forwards it to a laptop with the printed
``ssh -L`` line. With ``--port`` the server binds the loopback only. Either way every
request needs the printed token (see :mod:`hpcflow.ui.security`).
"""

from __future__ import annotations

import errno
import getpass
import os
import signal
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

from hpcflow.errors import HpcflowError
from hpcflow.private import PRIVATE_DIR, PRIVATE_FILE, make_dirs

SOCKET_NAME = "ui.sock"


@dataclass(frozen=True)
class ServeOptions:
    store_path: Path
    port: int | None = None
    socket_path: Path | None = None
    allow_actions: bool = False
    #: The laptop port the printed ``ssh -L`` line forwards.
    local_port: int = 8080


def socket_dir(home: Path) -> Path:
    """``$HPCFLOW_HOME/ui``, created 0700 and refused if anyone else could enter it."""
    path = make_dirs(home / "ui", PRIVATE_DIR)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise HpcflowError(f"{path} belongs to another user; refusing to put the dashboard's socket there")
    if stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` with mode 0600 (a stale socket is replaced)."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise HpcflowError(f"{path} exists and is not a socket; remove it or pass --socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # nobody listens: left by a server that died
        else:
            raise HpcflowError(f"another hpcflow ui already serves {path}; stop it or pass --socket")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is born 0600; the chmod below makes sure of it
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, PRIVATE_FILE)
    sock.listen(128)
    return sock


def bind_loopback(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc.strerror}"
        raise HpcflowError(f"port {port} on 127.0.0.1 {why}; choose another --port") from exc
    sock.listen(128)
    return sock


def banner(opts: ServeOptions, bound: str, token: str, port: int | None, out: TextIO) -> None:
    """What to type on the laptop: the tunnel and the URL with the token."""
    user, host = getpass.getuser(), socket.gethostname()
    target = f"127.0.0.1:{port}" if port is not None else bound
    where = bound if port is not None else f"{bound} (a Unix socket, mode 0600)"
    url_port = opts.local_port
    print(f"hpcflow ui: serving {opts.store_path} read-only"
          f"{' (cancel/retry enabled)' if opts.allow_actions else ''} on {where}", file=out)
    print(f"On your laptop:  ssh -N -L {url_port}:{target} {user}@{host}", file=out)
    print(f"then open:       http://localhost:{url_port}/?token={quote(token)}", file=out)
    if port is not None:
        print(f"or, on this machine:  http://127.0.0.1:{port}/?token={quote(token)}", file=out)
    out.flush()


class _Stopped(Exception):
    """The server was asked to stop (SIGINT or SIGTERM)."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def serve(opts: ServeOptions, out: TextIO) -> None:
    """Run the dashboard until interrupted."""
    import uvicorn

    from hpcflow.store.reader import StoreReader
    from hpcflow.ui.app import create_app
    from hpcflow.ui.security import Secrets

    os.umask(0o077)  # whatever this process creates (SQLite's WAL index) stays private
    reader = StoreReader(opts.store_path)
    keys = Secrets()
    app = create_app(reader, keys, allow_actions=opts.allow_actions)
    cleanup: Path | None = None
    if opts.port is not None:
        sock = bind_loopback(opts.port)
        port = sock.getsockname()[1]
        bound = f"127.0.0.1:{port}"
    else:
        cleanup = opts.socket_path or socket_dir(opts.store_path.parent) / SOCKET_NAME
        sock, port, bound = bind_unix(cleanup), None, str(cleanup)
    banner(opts, bound, keys.token, port, out)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            proxy_headers=False, server_header=False)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    # handler that was there before it: make that one end the process through ``finally``.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        if cleanup is not None and cleanup.exists():
            cleanup.unlink()
