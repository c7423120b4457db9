"""The README's example workflow runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("ase", reason="the README example needs ASE (pip install -e '.[test]')")


def test_readme_example_runs(tmp_path: Path):
    text = (REPO / "README.md").read_text()
    code = re.search(r"## A workflow\n\n```python\n(.*?)```", text, re.S).group(1)
    script = tmp_path / "readme_example.py"
    script.write_text(code)
    env = dict(os.environ, HPCFLOW_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    env.pop("HPCFLOW_SITE", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, best = proc.stdout.split()
    assert status == "Succeeded"
    assert -0.01 < float(best) < 0.0  # EMT copper's minimum lies between a = 3.55 and 3.65 Å
