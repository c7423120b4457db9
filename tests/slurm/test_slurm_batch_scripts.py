"""On the real cluster: a job whose tasks only start the runtime gets a Python batch script
(no bash per task), with the working directory, ``sys.path`` and environment that bash's
script gives; a site with setup lines keeps bash and its setup still runs."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.test_cron_ticks import _submit, _tick_until
from tests.integration.test_user_project import SLURM_SITE, user_env

pytestmark = pytest.mark.slurm

#: A user's project: the OPs in a module next to the workflow script, as `hpcflow submit` runs it.
OPS = '''
import os
import sys
from typing import List

from hpcflow.python import OP


@OP.function
def probe(x: int) -> {"y": int, "path": List[str], "decoys": List[str], "mark": str, "unbuffered": bool}:
    return {"y": x + 1, "path": sys.path, "decoys": [p for p in sys.path if "decoy" in p],
            "mark": os.environ.get("HF_SETUP_MARK", ""), "unbuffered": sys.stdout.write_through}
'''

WORKFLOW = '''
from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate, Slices

from probe_ops import probe

wf = Workflow("batch-script")
wf.add(Step("probe", PythonOPTemplate(probe, slices=Slices(
    input_parameter=["x"], output_parameter=["y", "path", "decoys", "mark", "unbuffered"])),
    parameters={"x": [0, 1, 2]}))
wf.submit()
'''


def _project(tmp_path: Path) -> Path:
    # a directory name the shell would act on, were it ever parsed as shell text
    project = tmp_path / "proj 'q' $(touch hf-canary) `touch hf-canary` ü"
    project.mkdir()
    (project / "probe_ops.py").write_text(textwrap.dedent(OPS))
    (project / "wf.py").write_text(textwrap.dedent(WORKFLOW))
    return project


def _job_scripts(work_root: Path) -> list[Path]:
    return sorted(p for p in work_root.glob("**/jobs/*/hpcflow-*") if p.suffix in (".py", ".sh"))


def _run(tmp_path: Path, site: Path) -> tuple[dict, list[Path]]:
    project = _project(tmp_path)
    work = tmp_path / "work"
    site_text = site.read_text().replace('work_root = "/tmp/hpcflow-work"', f'work_root = "{work}"')
    assert site_text != site.read_text()
    own_site = tmp_path / "site.toml"
    own_site.write_text(site_text)
    env = user_env(tmp_path / "home", own_site)
    wf_id = _submit(project, env)
    # The ticks (and their sbatch) run from `/` with a $PYTHONPATH of the user's login
    # shell: the job must replace it with the workflow's own, as bash's `export` does.
    decoy = tmp_path / "decoy-path"
    decoy.mkdir()
    tick_env = dict(env, PYTHONPATH=str(decoy))
    tick_env.pop("PYTHONUNBUFFERED", None)  # the job's own must make its output unbuffered
    state = _tick_until(wf_id, tick_env, timeout=180)
    assert state["status"] == "Succeeded", state["message"]
    assert not list(tmp_path.rglob("hf-canary"))  # wherever a shell would have run it
    step = next(s for s in state["steps"] if s["name"] == "probe")
    return step["outputs"]["parameters"], _job_scripts(work)


def test_a_runtime_array_runs_from_a_python_batch_script_with_bashs_environment(tmp_path: Path):
    out, scripts = _run(tmp_path, SLURM_SITE)

    assert out["y"] == [1, 2, 3]
    assert out["decoys"] == [[], [], []]  # the inherited $PYTHONPATH is gone from sys.path
    assert out["unbuffered"] == [True, True, True]  # PYTHONUNBUFFERED=1, as `-u`
    assert all(any(Path(p).parent.name == "jobs" for p in path) for path in out["path"])  # as `-m`
    assert [p.suffix for p in scripts] == [".py"]
    first = scripts[0].read_text().splitlines()[0]
    assert first == f"#!{sys.executable} -u"
    assert not list(scripts[0].parent.glob("*.argv"))  # the script holds the argv itself


def test_a_site_with_setup_lines_keeps_a_bash_script_and_its_setup_runs(tmp_path: Path):
    site = tmp_path / "setup-site.toml"
    site.write_text(SLURM_SITE.read_text().replace(
        'scheduler = "slurm"', 'scheduler = "slurm"\nsetup = ["export HF_SETUP_MARK=from-setup"]'))

    out, scripts = _run(tmp_path, site)

    assert out["y"] == [1, 2, 3]
    assert out["mark"] == ["from-setup"] * 3
    assert out["decoys"] == [[], [], []]
    assert out["unbuffered"] == [True, True, True]
    assert all(any(Path(p).parent.name == "jobs" for p in path) for path in out["path"])
    assert [p.suffix for p in scripts] == [".sh"]
    assert scripts[0].read_text().startswith("#!/bin/bash\n")
