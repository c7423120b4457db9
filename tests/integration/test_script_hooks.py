"""pre_script / post_script in a whole workflow, run as a user runs it (``python wf.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.errors import SpecError
from hpcflow.python import PythonOPTemplate
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")
REPO = Path(__file__).resolve().parents[2]

WORKFLOW = '''
import os, sys
from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate

@OP.function
def scaled(x: int) -> {"y": int}:
    return {"y": x * int(os.environ["FACTOR"])}

pre = "import os\\nos.environ['FACTOR'] = '3'\\n"
post = "with open({marker!r}, 'a') as fh:\\n    fh.write(str(output['y']) + '\\\\n')\\n"
wf = Workflow("hooks")
first = Step("first", PythonOPTemplate(scaled, pre_script=pre, post_script=post), parameters={"x": 2})
second = Step("second", PythonOPTemplate(scaled, pre_script=pre), parameters={"x": first.outputs.parameters["y"]})
wf.add(first)
wf.add(second)
wf.submit()
print(wf.wait(), wf.query_step(name="second")[0].outputs.parameters["y"].value)
'''


def test_hooks_run_in_a_workflow_script(tmp_path: Path) -> None:
    marker = tmp_path / "post.txt"
    script = tmp_path / "wf.py"
    script.write_text(WORKFLOW.replace("{marker!r}", repr(str(marker))))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # pre_script set FACTOR for both steps (2*3, then 6*3); post_script saw the output
    assert proc.stdout.split() == ["Succeeded", "18"]
    assert marker.read_text() == "6\n"


def test_a_hook_that_is_not_python_fails_at_submit(tmp_path: Path) -> None:
    wf = Workflow("bad-hook")
    wf.add(Step("a", PythonOPTemplate(ops.add, name="adder", post_script="print(output["),
                parameters={"a": 1}))
    with pytest.raises(SpecError, match=r"template adder: post_script is not valid Python"):
        wf.submit()
    assert wf.id is None  # nothing was stored


def test_a_failing_pre_script_fails_its_step_and_says_so(tmp_path: Path) -> None:
    wf = Workflow("failing-hook")
    wf.add(Step("a", PythonOPTemplate(ops.add, pre_script=textwrap.dedent("""
        import os
        os.environ["LICENSE"]  # not set on this machine
    """)), parameters={"a": 1}))
    wf.submit()
    assert wf.wait(timeout=120) == "Failed"
    (step,) = wf.query_step(name="a")
    assert step.phase == "Failed"
    assert "HookError: pre_script of step a failed: KeyError: 'LICENSE'" in step.message
