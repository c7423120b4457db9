"""Dflow's own test workflows, run on hpcflow with only ``dflow`` replaced by ``hpcflow``.

The tests are taken from the pydflow source distribution on PyPI at test time (cached),
so that no Dflow code is kept in this repository. Each runs in its own process, as a
Dflow user would run it, against a fresh local-mode store.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat import pydflow_sdist

REPO = Path(__file__).resolve().parents[2]

#: Dflow tests that need something only Argo/Kubernetes provides (none in this release).
ARGO_ONLY: dict[str, str] = {}


def port(source: str) -> str:
    """The only change: ``dflow`` → ``hpcflow`` in imports."""
    return re.sub(r"\b(from|import) dflow\b", r"\1 hpcflow", source)


@pytest.mark.parametrize("case", pydflow_sdist.files("tests"))
def test_dflow_workflow_runs_unchanged(case: str, tmp_path: Path):
    suite = pydflow_sdist.fetch_or_skip() / "tests"
    if case in ARGO_ONLY:
        pytest.skip(ARGO_ONLY[case])
    ported = tmp_path / case
    ported.write_text(port((suite / case).read_text()))
    env = dict(os.environ, HPCFLOW_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    env.pop("HPCFLOW_SITE", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ported)],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
