"""Jobs resolve ``dflow`` whatever environment the engine that launches them has: a
workflow submitted under ``hpcflow exec`` and driven by plain ``hpcflow tick`` (cron)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from tests.compat.scripts import HPCFLOW, alias_env, explain, hpcflow_exec

OPS = '''
import subprocess
import sys

import dflow
from dflow.python import OP, OPIO, OPIOSign


class WhichDflow(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"here": str, "child": str})

    @OP.exec_sign_check
    def execute(self, ip):
        child = subprocess.run([sys.executable, "-c", "import dflow; print(dflow.Workflow.__module__)"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return OPIO({"here": dflow.Step.__module__, "child": child})
'''

WORKFLOW = '''
import ops
from dflow import Step, Workflow
from dflow.python import PythonOPTemplate, upload_packages
from ops import WhichDflow

upload_packages.append(ops.__file__)  # as Dflow scripts ship their own modules

wf = Workflow("alias-jobs")
wf.add(Step("which", PythonOPTemplate(WhichDflow)))
wf.submit()
while wf.query_status() in ("Pending", "Running"):
    pass
'''


def test_job_of_an_aliased_submission_resolves_dflow_under_a_plain_engine(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "ops.py").write_text(textwrap.dedent(OPS))
    (project / "wf.py").write_text(textwrap.dedent(WORKFLOW))
    env = alias_env(tmp_path / "home")
    sub = hpcflow_exec([str(HPCFLOW), "submit", "wf.py"], project, env)
    assert sub.returncode == 0, explain(sub)
    wf_id = sub.stdout.strip().splitlines()[-1]
    elsewhere = tmp_path / "cron"
    elsewhere.mkdir()
    status = "Pending"
    for _ in range(300):  # the engine runs without the alias, from another directory
        subprocess.run([str(HPCFLOW), "tick"], cwd=elsewhere, env=env, capture_output=True, timeout=120)
        shown = subprocess.run([str(HPCFLOW), "show", wf_id, "--json"], cwd=elsewhere, env=env,
                               capture_output=True, text=True, timeout=60)
        status = json.loads(shown.stdout)["status"]
        if status in ("Succeeded", "Failed"):
            break
    assert status == "Succeeded", shown.stdout
    out = subprocess.run([str(HPCFLOW), "outputs", wf_id, "--step", "which"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert "hpcflow.dsl.step" in out.stdout and "hpcflow.dsl.workflow" in out.stdout, out.stdout + out.stderr
