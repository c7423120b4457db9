"""The web dashboard (``hpcflow ui``): a read-only view of one user's store.

It reads the store through :class:`hpcflow.store.reader.StoreReader` (a read-only SQLite
connection) and the attempt directories the store names (logs, exit records, images);
it never imports the engine or a scheduler. The one exception is :mod:`hpcflow.ui.actions`
(cancel, retry), imported only when the server runs with ``--allow-actions``.

Its web stack (Starlette, Jinja2, uvicorn) is the optional extra ``hpcflow[ui]``.
"""

from __future__ import annotations

import importlib.util

from hpcflow.errors import MissingExtra

REQUIRED_MODULES = ("starlette", "jinja2", "uvicorn")
INSTALL_HINT = "pip install 'hpcflow[ui]'"


def require_web_stack() -> None:
    """Raise :class:`MissingExtra` naming the extra to install if a web package is missing."""
    missing = [m for m in REQUIRED_MODULES if _missing(m)]
    if missing:
        raise MissingExtra(f"hpcflow ui needs {', '.join(missing)}: {INSTALL_HINT}")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a module set to None in sys.modules
        return True
