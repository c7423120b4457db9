"""Directories and files that only their owner (or, by a site's choice, its group) can read.

A login node is shared by hundreds of users, and work roots sit on a scratch filesystem
every one of them can list: a workflow's spec (with its shipped code), parameters, inputs
and outputs must not be readable by them. ``mkdir``'s mode is filtered by the umask, so
the modes here are set explicitly after creation.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The store directory and, unless a site says otherwise, every directory in a work root.
PRIVATE_DIR = 0o700
#: The store and the files beside it.
PRIVATE_FILE = 0o600


def make_dirs(path: str | Path, mode: int = PRIVATE_DIR) -> Path:
    """Create ``path`` and its missing parents with exactly ``mode``; existing ones are
    left as their owner made them."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, mode)
    return path


def make_private_home(path: str | Path) -> Path:
    """The store directory: created 0700, and tightened to 0700 if an older hpcflow made it
    readable by others."""
    path = make_dirs(path)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: str | Path) -> Path:
    """Create ``path`` if missing with mode 0600 (tightening an existing one of ours)."""
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def parse_mode(text: str) -> int:
    """A work-root mode from a site file (``"0700"``, ``"0750"``, ``"0770"``).

    The owner always keeps full access, and no mode may give other users any access:
    group access is the way to share results with a team.
    """
    try:
        mode = int(text, 8)
    except ValueError:
        raise ValueError(f"{text!r} is not an octal mode such as \"0700\" or \"0750\"") from None
    if mode & ~0o777 or mode & 0o700 != 0o700:
        raise ValueError(f"{text!r}: the owner needs rwx (0700 plus group bits, e.g. \"0750\")")
    if mode & 0o007:
        raise ValueError(f"{text!r} gives every user of the cluster access; use group bits "
                         "(\"0750\") to share with a team")
    return mode
