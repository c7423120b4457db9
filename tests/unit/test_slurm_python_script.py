"""The Python batch script (hpcflow/scheduler/slurm/python_script.py): golden text, and
run as slurmstepd runs it (through its ``#!`` line) on real units, with hostile paths and
values that must arrive unchanged and run nothing, and the job's own ``$PYTHONPATH`` in
place of an inherited one."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hpcflow.python import PythonOPTemplate
from hpcflow.runtime.tasklist import TASK_LIST, write_task_list
from hpcflow.scheduler.base import IndexedTasks, JobRequest, Resources
from hpcflow.scheduler.slurm.python_script import render_python_script, runtime_command
from tests.helpers import REPO_ROOT, make_unit, read_outputs

GOLDEN = Path(__file__).parent.parent / "fixtures" / "slurm" / "golden"
REGEN = os.environ.get("HPCFLOW_REGEN_GOLDEN") == "1"
HOSTILE = "$(touch hf-canary) `touch hf-canary` 'q' \"d\" \\ ü\nnew line"

OPS = '''
import os
import sys
from typing import List

from hpcflow.python import OP


@OP.function
def probe(x: int) -> {"y": int, "value": str, "path": List[str], "decoys": List[str]}:
    return {"y": x + 1, "value": os.environ.get("HPCFLOW_PROBE", ""), "path": sys.path,
            "decoys": [p for p in sys.path if "decoy" in p]}
'''


def _job(workdir: Path, tasks: object, ops_dir: Path, hpcflow_root: Path = REPO_ROOT) -> JobRequest:
    env = {"PYTHONPATH": os.pathsep.join([str(hpcflow_root), str(ops_dir)]), "PYTHONUNBUFFERED": "1",
           "USER": "hpcflow-test", "HPCFLOW_PROBE": HOSTILE}
    return JobRequest(tag="wf-1.probe-a0", name="probe 'q' $(x)", workdir=workdir, tasks=tasks,  # type: ignore[arg-type]
                      env=env, resources=Resources(cpus=1, memory_mb=200, partition="debug"))


def test_golden_python_script() -> None:
    argv = ("/usr/bin/python3", "-m", "hpcflow.runtime", "--tasks", "/w d/tasks.jsonl", "--index")
    job = _job(Path("/shared/wd 'q' $(x) ü"), IndexedTasks(argv, 4), Path("/ops 'q'"), Path("/opt/hpcflow"))
    command = runtime_command(job)
    assert command is not None and command.indexed
    text = render_python_script(job, command, is_array=True)
    golden = GOLDEN / "array.py"
    if REGEN:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), "array.py changed; HPCFLOW_REGEN_GOLDEN=1"
    compile(text, "array.py", "exec")  # valid Python whatever the values


def _probe_array(tmp_path: Path, monkeypatch, *, job_path: bool) -> dict:
    """Run task 3 of a 5-task probe array (chunk offset 2, array task 1) through the
    script's ``#!`` line, from a shell whose $PYTHONPATH names a decoy; its outputs."""
    ops_dir = tmp_path / f"ops {HOSTILE.splitlines()[0]}"
    ops_dir.mkdir()
    (ops_dir / "probe_ops.py").write_text(textwrap.dedent(OPS))
    monkeypatch.syspath_prepend(str(ops_dir))
    import probe_ops

    workdir = tmp_path / "job 'q' $(touch hf-canary) ü"
    workdir.mkdir()
    tasks = []
    for i in range(5):  # each a unit of its own, as the engine's task list holds them
        made = make_unit(tmp_path / f"make{i}", PythonOPTemplate(probe_ops.probe), parameters={"x": i},
                         slice_index=i)
        tasks.append([(str(workdir / f"u{i}"), json.loads((made / "task.json").read_text()))])
    write_task_list(workdir / TASK_LIST, tasks, log=str(workdir / "units.log"))
    argv = (sys.executable, "-m", "hpcflow.runtime", "--tasks", str(workdir / TASK_LIST), "--index")
    job = _job(workdir, IndexedTasks(argv, 5), ops_dir)
    if not job_path:
        job = dataclasses.replace(job, env={k: v for k, v in job.env.items() if k != "PYTHONPATH"})
    command = runtime_command(job)
    assert command is not None
    script = tmp_path / "hpcflow-probe.py"
    script.write_text(render_python_script(job, command, is_array=True), encoding="utf-8")
    script.chmod(0o755)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    inherited = [str(decoy)] if job_path else [str(REPO_ROOT), str(ops_dir), str(decoy)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLURM_ARRAY_TASK_ID": "1",
           "PYTHONPATH": os.pathsep.join(inherited)}  # what the login shell that ran sbatch had

    proc = subprocess.run([str(script), "2"], env=env, cwd="/", capture_output=True, text=True,
                          timeout=60, check=False)  # chunk offset 2, array task 1: task 3

    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in workdir.glob("u*")) == ["u3"]
    assert not list(tmp_path.rglob("hf-canary"))
    return read_outputs(workdir / "u3")["parameters"]


def test_array_task_offset_plus_index_runs_its_unit_with_the_jobs_environment(tmp_path: Path, monkeypatch) -> None:
    out = _probe_array(tmp_path, monkeypatch, job_path=True)
    workdir = tmp_path / "job 'q' $(touch hf-canary) ü"
    # the job's directory on the path, as `python -m` puts it (before the OP's python_packages)
    assert str(workdir) in out.pop("path")
    assert out == {"y": 4, "value": HOSTILE, "decoys": []}


def test_a_job_without_its_own_pythonpath_keeps_the_inherited_one_as_bash_would(tmp_path: Path, monkeypatch) -> None:
    out = _probe_array(tmp_path, monkeypatch, job_path=False)
    assert out["y"] == 4 and out["decoys"] == [str(tmp_path / "decoy")]


def test_a_missing_job_directory_exits_97_and_says_which(tmp_path: Path) -> None:
    argv = (sys.executable, "-m", "hpcflow.runtime", "--tasks", "t", "--index")
    job = _job(tmp_path / "gone", IndexedTasks(argv, 2), tmp_path)
    command = runtime_command(job)
    assert command is not None
    script = tmp_path / "s.py"
    script.write_text(render_python_script(job, command, is_array=True), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 97 and f"cannot enter {tmp_path / 'gone'}" in proc.stderr
