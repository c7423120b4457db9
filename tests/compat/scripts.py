"""Run Dflow-style scripts the way a Dflow user would, through ``hpcflow exec``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HPCFLOW = Path(sys.executable).parent / "hpcflow"


def alias_env(home: Path, site: Path | None = None, **extra: str) -> dict[str, str]:
    """A fresh store, local mode unless ``site`` is given, and no alias inherited from pytest."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HPCFLOW_SITE", "HPCFLOW_DFLOW_ALIAS", "HPCFLOW_NO_ATEXIT", "HPCFLOW_SUBMIT_ONLY")}
    env.update(HPCFLOW_HOME=str(home), PYTHONPATH=str(REPO), **extra)
    if site is not None:
        env["HPCFLOW_SITE"] = str(site)
    return env


def hpcflow_exec(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``hpcflow exec -- ARGV`` in ``cwd`` (the installed console script, as a user runs it)."""
    return subprocess.run([str(HPCFLOW), "exec", "--", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_dflow_script(tmp_path: Path, source: str, site: Path | None = None,
                     timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Write ``source`` to ``wf.py`` in a fresh directory and run ``python wf.py`` aliased."""
    workdir = tmp_path / "project"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "wf.py").write_text(textwrap.dedent(source))
    return hpcflow_exec([sys.executable, "wf.py"], workdir, alias_env(tmp_path / "home", site), timeout)


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
