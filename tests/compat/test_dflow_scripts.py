"""pydflow's example and test files run AS SCRIPTS (``python file.py`` in a fresh directory),
the way Dflow users run them, not only under pytest (where test modules are importable).

Each file runs twice: unchanged through the alias (``hpcflow exec -- python file.py``), and
with only its imports changed from ``dflow`` to ``hpcflow``. Every workflow it submitted
must have Succeeded. The 1.8.134 sdist ships ``tests/`` only (no ``examples/``); examples
run here as soon as a release ships them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.compat import pydflow_sdist
from tests.compat.scripts import alias_env, explain, hpcflow_exec
from tests.compat.test_dflow_suite import port

#: Files that need Argo, Kubernetes or Bohrium, and why (none among 1.8.134's files).
EXCLUDED: dict[str, str] = {}

CASES = [("tests", name) for name in pydflow_sdist.files("tests")] + \
        [("examples", name) for name in pydflow_sdist.files("examples")]


def _statuses(home: Path) -> list[str]:
    from hpcflow.store.db import Store

    store = Store(home / "hpcflow.db")
    try:
        return [w["status"] for w in store.list_workflows()]
    finally:
        store.close()


@pytest.mark.parametrize("how", ["alias", "ported"])
@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}/{n}" for k, n in CASES])
def test_dflow_file_runs_as_a_script(kind: str, name: str, how: str, tmp_path: Path) -> None:
    source = pydflow_sdist.fetch_or_skip() / kind / name
    if name in EXCLUDED:
        pytest.skip(EXCLUDED[name])
    workdir = tmp_path / "run"
    workdir.mkdir()
    home = tmp_path / "home"
    script = workdir / name
    env = alias_env(home)
    if how == "alias":
        shutil.copy(source, script)
        proc = hpcflow_exec([sys.executable, name], workdir, env)
    else:
        import subprocess

        script.write_text(port(source.read_text()))
        proc = subprocess.run([sys.executable, name], cwd=workdir, env=env, capture_output=True,
                              text=True, timeout=600)
    assert proc.returncode == 0, explain(proc)
    statuses = _statuses(home)
    assert statuses and set(statuses) == {"Succeeded"}, (statuses, explain(proc))
