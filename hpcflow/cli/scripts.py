"""Run a user's workflow script in-process and learn which workflows it submitted."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from hpcflow import settings
from hpcflow.errors import HpcflowError


def run_script(path: Path, argv: list[str], submit_only: bool) -> list[str]:
    """Execute ``path`` as ``__main__``; return the ids of the workflows it submitted."""
    from hpcflow import client

    if not path.exists():
        raise HpcflowError(f"no such workflow script: {path}")
    # The CLI waits (`run`) or leaves the waiting to the daemon (`submit`), never the script.
    settings.use(settings.current().but(submit_only=submit_only or settings.current().submit_only,
                                       wait_at_exit=False))
    before = set(client.submitted_ids)
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [str(path), *argv]
    sys.path.insert(0, str(path.resolve().parent))
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise HpcflowError(f"{path} exited with status {exc.code}") from exc
    finally:
        sys.argv = old_argv
        sys.path[:] = old_path
    return [i for i in client.submitted_ids if i not in before]
