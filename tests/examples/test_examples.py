"""The examples are real science and run as tests (smaller settings where it saves time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("ase", reason="the examples need ASE (pip install -e '.[test]')")


def run_example(name: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HPCFLOW_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("HPCFLOW_SITE", None)
    return subprocess.run([sys.executable, str(REPO / "examples" / name), *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_eos_fits_copper(tmp_path: Path):
    proc = run_example("eos.py", "--points", "9", home=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # EMT copper: about 11.6 Å^3/atom and about 134 GPa
    line = next(x for x in proc.stdout.splitlines() if x.startswith("equilibrium volume"))
    volume = float(line.split()[2])
    modulus = float(line.split("bulk modulus")[1].split()[0])
    assert 11.3 < volume < 11.9
    assert 120 < modulus < 150
    plot = Path(proc.stdout.split("plot: ")[1].strip())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((plot.parent / "eos.json").read_text())
    assert result["points"] == 9


def test_concurrent_learning_loop_runs_iterations_and_grows_the_data(tmp_path: Path):
    proc = run_example("concurrent_learning.py", "--max-iter", "2", "--ensemble", "2", home=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "iterations 2" in proc.stdout
    size = int(proc.stdout.split("labelled configurations ")[1].split()[0])
    assert size > 10  # started from 10 labelled configurations
    assert proc.stdout.count("-screen: selected") == 2
