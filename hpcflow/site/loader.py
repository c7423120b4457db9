"""Load a site configuration from TOML and find the one in effect.

Every problem becomes one :class:`~hpcflow.errors.ConfigError` line per fault, naming the file
and the dotted key: ``site.toml: defaults.memory: cannot parse '2 gigs' as a memory size``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hpcflow import settings as settings_module
from hpcflow.errors import ConfigError
from hpcflow.site.models import SiteConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Where a user's own site file lives when neither a path nor $HPCFLOW_SITE names one.
USER_SITE = settings_module.USER_SITE
ENV_VAR = "HPCFLOW_SITE"  # read by hpcflow.settings, the one place that reads the environment

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "missing required key",
}


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _describe(error: Any) -> str:
    msg: str = _MESSAGES.get(error["type"], error["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One ``source: dotted.key: message`` line per error."""
    lines = []
    for error in exc.errors():
        key = _dotted(error["loc"])
        lines.append(
            f"{source}: {key}: {_describe(error)}" if key else f"{source}: {_describe(error)}"
        )
    return "\n".join(lines)


def parse_site(data: dict[str, Any], source: str = "<site>") -> SiteConfig:
    """Validate an already-parsed mapping (``source`` names it in errors)."""
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_site(path: str | os.PathLike[str]) -> SiteConfig:
    """Read and validate one TOML site file."""
    source = str(path)
    try:
        text = Path(os.path.expanduser(source)).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such site configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start}): TOML files are UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return parse_site(data, source)


def builtin_local() -> SiteConfig:
    """Local mode: jobs run as subprocesses of this machine, nothing to configure."""
    return SiteConfig.model_validate({"name": "local", "scheduler": "local"})


def resolve_site(path: str | None = None) -> SiteConfig:
    """The site in effect: ``path``, else the one the process settings name
    (``--site``, $HPCFLOW_SITE, the user's file), else local mode."""
    if not path:
        from hpcflow.settings import current

        path = current().site_file
    return load_site(path) if path else builtin_local()
