"""S3 credentials: read only from the environment or a private file, and never shown.

Dflow embeds storage secrets in every step script; hpcflow never writes them anywhere.
A credentials file must be readable by its owner alone, and :class:`S3Credentials` hides
its secrets from ``repr``/``str`` so they cannot leak into logs or error messages.
"""

from __future__ import annotations

import configparser
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hpcflow.errors import StorageError

_ACCESS_NAMES = ("aws_access_key_id", "access_key_id", "access_key")
_SECRET_NAMES = ("aws_secret_access_key", "secret_access_key", "secret_key")
_TOKEN_NAMES = ("aws_session_token", "session_token")


@dataclass(frozen=True, repr=False, eq=False)
class S3Credentials:
    """An access key pair (and optional session token), plus where it came from."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    #: Human-readable origin ("environment AWS_*", "file /path"); safe to show.
    source: str = "explicit"

    def __repr__(self) -> str:
        key = self.access_key_id
        shown = f"{key[:4]}…" if len(key) > 8 else "…"
        return f"S3Credentials(access_key_id={shown!r}, secret=<hidden>, source={self.source!r})"

    __str__ = __repr__


def _from_env() -> S3Credentials | None:
    env = os.environ
    # hpcflow's own names win: they are set for hpcflow on purpose, AWS_* may be ambient.
    if env.get("HPCFLOW_S3_ACCESS_KEY") and env.get("HPCFLOW_S3_SECRET_KEY"):
        return S3Credentials(
            env["HPCFLOW_S3_ACCESS_KEY"],
            env["HPCFLOW_S3_SECRET_KEY"],
            env.get("HPCFLOW_S3_SESSION_TOKEN") or None,
            source="environment HPCFLOW_S3_*",
        )
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return S3Credentials(
            env["AWS_ACCESS_KEY_ID"],
            env["AWS_SECRET_ACCESS_KEY"],
            env.get("AWS_SESSION_TOKEN") or None,
            source="environment AWS_*",
        )
    return None


def check_private(path: Path) -> None:
    """Refuse a secrets file that anyone but its owner can read or write."""
    try:
        st = path.stat()
    except OSError as exc:
        raise StorageError(f"cannot read S3 credentials file {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise StorageError(
            f"S3 credentials file {path} has mode {mode:04o}; it must be readable only by "
            f"its owner (run: chmod 600 {path})"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise StorageError(f"S3 credentials file {path} is not owned by the current user")


def _pick(values: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if values.get(name):
            return values[name].strip()
    return None


def _parse(path: Path, text: str, profile: str) -> dict[str, str]:
    """Key/value pairs from JSON, an AWS-style INI file, or bare ``key = value`` lines.

    Parse errors are reported by line number only, and raised outside the ``except``
    block: the parser's own exception quotes the offending line, which may hold the secret.
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        bad_line = None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            bad_line = exc.lineno
        # Raised outside the handler so no __context__ keeps the parser's copy of the text.
        if bad_line is not None:
            raise StorageError(f"S3 credentials file {path}: bad JSON at line {bad_line}")
        if not isinstance(data, dict):
            raise StorageError(f"S3 credentials file {path}: expected a JSON object")
        return {str(k).lower(): str(v) for k, v in data.items() if v is not None}
    parser = configparser.ConfigParser(interpolation=None)
    if not stripped.startswith("["):
        text = f"[{profile}]\n{text}"
    failed, line = False, None
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        failed, line = True, getattr(exc, "lineno", None)
    if failed:
        where = f" near line {line}" if line else ""
        raise StorageError(f"S3 credentials file {path} could not be parsed{where}")
    if not parser.has_section(profile):
        raise StorageError(f"S3 credentials file {path} has no [{profile}] section")
    return {k.lower(): v for k, v in parser.items(profile)}


def load_credentials(
    credentials_file: str | os.PathLike[str] | None = None, *, profile: str = "default"
) -> S3Credentials:
    """Credentials from ``credentials_file`` if given, else from the environment.

    Environment: ``HPCFLOW_S3_ACCESS_KEY``/``HPCFLOW_S3_SECRET_KEY`` (first), or
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``.
    """
    if credentials_file is None:
        creds = _from_env()
        if creds is None:
            raise StorageError(
                "no S3 credentials: set HPCFLOW_S3_ACCESS_KEY and HPCFLOW_S3_SECRET_KEY (or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or give a credentials_file "
                "with mode 0600"
            )
        return creds
    path = Path(credentials_file).expanduser()
    check_private(path)
    values = _parse(path, path.read_text(encoding="utf-8"), profile)
    access = _pick(values, _ACCESS_NAMES)
    secret = _pick(values, _SECRET_NAMES)
    if not access or not secret:
        raise StorageError(
            f"S3 credentials file {path} needs aws_access_key_id and aws_secret_access_key"
        )
    return S3Credentials(access, secret, _pick(values, _TOKEN_NAMES), source=f"file {path}")
