"""The local fork server does not import from the directory a user runs hpcflow in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

DECOY = """
import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "decoy-imported"), "a") as fh:
    fh.write(f"{os.getpid()}\\n")
raise SystemExit("the project's array.py was imported in place of the standard library's")
"""

WORKFLOW = """
from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate

@OP.function
def double(x: int) -> {"y": int}:
    return {"y": 2 * x}

wf = Workflow("decoy")
wf.add(Step("d", PythonOPTemplate(double), parameters={"x": 21}))
wf.submit()
"""


def test_a_project_file_named_like_a_stdlib_module_is_not_imported_by_jobs(tmp_path: Path):
    # `socket` imports `array`; the fork server imports socket, so before the fix it ran the
    # project's array.py (and a workflow script of that name submitted itself in every job).
    project = tmp_path / "project"
    project.mkdir()
    (project / "array.py").write_text(textwrap.dedent(DECOY))
    (project / "wf.py").write_text(textwrap.dedent(WORKFLOW))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HPCFLOW_")}
    env["HPCFLOW_HOME"] = str(tmp_path / "home")
    hpcflow = Path(sys.executable).with_name("hpcflow")
    proc = subprocess.run([str(hpcflow), "run", "wf.py"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Succeeded" in proc.stdout
    assert not (project / "decoy-imported").exists()
