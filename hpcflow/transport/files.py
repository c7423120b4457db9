"""Files to and from the login node, as tar streams over one channel of the SSH connection.

Many small files (a job's task list, a step's records) go in *one* command each way: a tar
archive on the channel's stdin or stdout, read and written by the remote ``tar`` and
Python's :mod:`tarfile` here. Paths travel inside the archive or NUL-separated on stdin,
never through a shell, so any path (spaces, quotes, newlines) arrives unchanged. Writes are
atomic on the remote side: files land in a temporary directory under the destination root
and are renamed into place (same filesystem), so a job never reads half a file.
"""

from __future__ import annotations

import io
import shlex
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from hpcflow.errors import TransportError


class BytesChannel(Protocol):
    """What the SSH transports offer for file transfer."""

    def exec_bytes(self, command: str, stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]: ...


_WRITE = r"""
set -e
umask 077
root=$1
mkdir -p -- "$root"
t=$(mktemp -d -- "$root/.hpcflow-incoming.XXXXXX")
trap 'rm -rf -- "$t"' EXIT
tar -xf - -C "$t"
mapfile -d '' -t dests < "$t/manifest"
for i in "${!dests[@]}"; do
    d=${dests[$i]}
    mkdir -p -- "${d%/*}/"
    mv -f -T -- "$t/f/$i" "$d"
done
"""

_READ = r"""
mapfile -d '' -t want
for p in "${want[@]}"; do
    if [ -f "$p" ]; then printf '%s\0' "$p"; fi
done | tar -cf - --null --no-recursion -P -T -
"""

_READ_TREES = r"""
mark=$1
mapfile -d '' -t want
for p in "${want[@]}"; do
    if [ -e "$p" ] && { [ -z "$mark" ] || [ -e "$p/$mark" ]; }; then printf '%s\0' "$p"; fi
done | tar -cf - --null -P -T -
"""


def _bash(script: str, *args: str) -> str:
    return " ".join(shlex.quote(w) for w in ("bash", "-c", script, "hpcflow", *args))


def write_files(channel: BytesChannel, files: Mapping[str, bytes | str], root: str,
                timeout: float) -> None:
    """Write ``files`` (remote path -> content) in one command; every path under ``root``."""
    if not files:
        return
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "manifest", b"".join(p.encode() + b"\0" for p in files))
        for i, content in enumerate(files.values()):
            _add(tar, f"f/{i}", content.encode() if isinstance(content, str) else content)
    rc, _, err = channel.exec_bytes(_bash(_WRITE, root), buf.getvalue(), timeout)
    if rc != 0:
        raise TransportError(f"could not write {len(files)} file(s) under {root} on the cluster: "
                             f"{err.decode(errors='replace').strip()[-300:]}")


def upload_paths(channel: BytesChannel, pairs: Iterable[tuple[Path, str]], root: str,
                 timeout: float) -> int:
    """Copy local files or trees to remote paths (``(local, remote)`` pairs); returns how
    many files went."""
    files: dict[str, bytes] = {}
    for local, remote in pairs:
        if local.is_dir():
            for path in sorted(local.rglob("*")):
                if path.is_file():
                    files[f"{remote}/{path.relative_to(local).as_posix()}"] = path.read_bytes()
        elif local.is_file():
            files[remote] = local.read_bytes()
    write_files(channel, files, root, timeout)
    return len(files)


def read_files(channel: BytesChannel, paths: Iterable[str], timeout: float) -> dict[str, bytes]:
    """The content of those of ``paths`` that exist on the remote side, in one command."""
    return _read(channel, _READ, paths, timeout)


def read_trees(channel: BytesChannel, paths: Iterable[str], timeout: float) -> dict[str, bytes]:
    """Every file under the given remote directories (path -> content), in one command."""
    return _read(channel, _READ_TREES, paths, timeout, "")


def read_finished_trees(channel: BytesChannel, paths: Iterable[str], mark: str,
                        timeout: float) -> dict[str, bytes]:
    """Like :func:`read_trees`, for the directories that hold a file named ``mark`` only."""
    return _read(channel, _READ_TREES, paths, timeout, mark)


def _read(channel: BytesChannel, script: str, paths: Iterable[str], timeout: float,
          *args: str) -> dict[str, bytes]:
    wanted = list(dict.fromkeys(paths))
    if not wanted:
        return {}
    stdin = b"".join(p.encode() + b"\0" for p in wanted)
    rc, out, err = channel.exec_bytes(_bash(script, *args), stdin, timeout)
    if rc != 0 and not out:
        raise TransportError(f"could not read {len(wanted)} path(s) from the cluster: "
                             f"{err.decode(errors='replace').strip()[-300:]}")
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(out), mode="r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            if fh is not None:
                name = member.name if member.name.startswith("/") else "/" + member.name
                found[name] = fh.read()
    return found


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))
