"""pydflow's source distribution, downloaded from PyPI at test time and cached.

No Dflow code is kept in this repository: the compat tests read pydflow's own tests,
examples and module sources from the sdist (``HPCFLOW_COMPAT_PYDFLOW`` picks the release,
``HPCFLOW_COMPAT_CACHE`` the cache directory).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import in_ci

PYDFLOW = os.environ.get("HPCFLOW_COMPAT_PYDFLOW", "pydflow==1.8.134")
CACHE = Path(os.environ.get("HPCFLOW_COMPAT_CACHE", Path.home() / ".cache" / "hpcflow-compat"))
#: What the tests read from the sdist (its Python files only).
_PARTS = ("/tests/", "/examples/", "/src/dflow/")


def fetch() -> Path:
    """The unpacked sdist (``tests/``, ``examples/`` if shipped, ``src/dflow/``)."""
    target = CACHE / PYDFLOW.replace("==", "-")
    if (target / "src" / "dflow").is_dir() and (target / "tests").is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / (PYDFLOW.replace("==", "-") + ".tar.gz")
    if not sdist.exists():
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                               PYDFLOW, "-d", str(CACHE)], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"cannot download {PYDFLOW} from PyPI: {proc.stderr[-500:]}")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.endswith(".py") and any(part in m.name for part in _PARTS)]
        tar.extractall(CACHE, members=members, filter="data")
    return target


def fetch_or_skip() -> Path:
    """:func:`fetch`, or skip the test with the reason (never in CI, where it fails)."""
    try:
        return fetch()
    except Exception as exc:
        if in_ci():
            raise
        pytest.skip(f"pydflow's sdist is not available: {exc}")


def files(kind: str) -> list[str]:
    """Names of the sdist's ``tests/test_*.py`` or ``examples/*.py`` (for parametrize)."""
    try:
        root = fetch() / kind
    except Exception:
        return ["(pydflow sdist unavailable)"]
    pattern = "test_*.py" if kind == "tests" else "*.py"
    return sorted(p.name for p in root.glob(pattern)) if root.is_dir() else []
