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
import tarfile
from pathlib import Path

import pytest

from tests.conftest import in_ci

REPO = Path(__file__).resolve().parents[2]
PYDFLOW = os.environ.get("HPCFLOW_COMPAT_PYDFLOW", "pydflow==1.8.134")
CACHE = Path(os.environ.get("HPCFLOW_COMPAT_CACHE", Path.home() / ".cache" / "hpcflow-compat"))

#: Dflow tests that need something only Argo/Kubernetes provides (none in this release).
ARGO_ONLY: dict[str, str] = {}


def _fetch_suite() -> Path:
    target = CACHE / PYDFLOW.replace("==", "-")
    if (target / "tests").is_dir():
        return target / "tests"
    CACHE.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                           PYDFLOW, "-d", str(CACHE)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot download {PYDFLOW} from PyPI: {proc.stderr[-500:]}")
    sdist = next(CACHE.glob(PYDFLOW.replace("==", "-") + ".tar.gz"))
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name and m.name.endswith(".py")]
        tar.extractall(CACHE, members=members, filter="data")
    return target / "tests"


def _suite_or_skip() -> Path:
    try:
        return _fetch_suite()
    except Exception as exc:
        if in_ci():
            raise
        pytest.skip(f"Dflow's test suite is not available: {exc}")


def _cases() -> list[str]:
    try:
        return sorted(p.name for p in _fetch_suite().glob("test_*.py"))
    except Exception:
        return ["(suite unavailable)"]


def port(source: str) -> str:
    """The only change: ``dflow`` → ``hpcflow`` in imports."""
    return re.sub(r"\b(from|import) dflow\b", r"\1 hpcflow", source)


@pytest.mark.parametrize("case", _cases())
def test_dflow_workflow_runs_unchanged(case: str, tmp_path: Path):
    suite = _suite_or_skip()
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
