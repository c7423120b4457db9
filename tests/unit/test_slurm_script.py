"""The job script: golden text, and hostile values that must arrive unchanged and run nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpcflow.errors import SpecError
from hpcflow.scheduler.base import JobRequest, Resources
from hpcflow.scheduler.slurm.script import (
    job_name,
    render_script,
    render_task_list,
    sh_quote,
    shared_argv,
    tag_of,
)

GOLDEN = Path(__file__).parent.parent / "fixtures" / "slurm" / "golden"
REGEN = os.environ.get("HPCFLOW_REGEN_GOLDEN") == "1"


def hostile_values(canary: Path) -> list[str]:
    return [
        "with space",
        "it's",
        'double "quoted"',
        f"$(touch {canary}-dollar)",
        f"`touch {canary}-backtick`",
        f"'; touch {canary}-quote; '",
        "new\nline",
        "trailing newline\n",
        "ünïcødé ✓ 日本",
        "$HOME ${PATH} \\backslash \\n",
        "",
        "-n",
        "* ? [a-z] ~ # ! &&",
    ]


def hostile_job(workdir: Path, canary: Path, tasks: int = 3) -> JobRequest:
    values = hostile_values(canary)
    dump = (
        "import json, os, sys; "
        "json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(), "
        "'env': {k: v for k, v in os.environ.items() if k.startswith('HF_')}}, sys.stdout)"
    )
    return JobRequest(
        tag="wf-1.step_2-a0",
        name=f"name with spaces 'q' $(touch {canary}-name)\nü",
        workdir=workdir,
        tasks=tuple((sys.executable, "-c", dump, str(i), *values) for i in range(tasks)),
        env={f"HF_V{i}": v for i, v in enumerate(values)},
        resources=Resources(
            cpus=2,
            memory_mb=1500,
            gpus=1,
            time_limit_s=90,
            partition="debug",
            account="proj-1",
            qos="normal",
            constraint="intel&(ib|opa)",
            exclude_nodes=("n[01-03]", "gpu7"),
            extra_options=("--reservation=r1",),
        ),
        parallelism=2,
        setup_lines=("module purge 2>/dev/null || true", "export HF_SETUP=from-site-config"),
    )


def test_sh_quote_round_trips_through_bash(tmp_path: Path) -> None:
    for value in hostile_values(tmp_path / "canary"):
        out = subprocess.run(
            ["bash", "-c", f"printf %s {sh_quote(value)}"], capture_output=True, check=True
        ).stdout.decode()
        assert out == value
    assert not list(tmp_path.iterdir())
    with pytest.raises(SpecError):
        sh_quote("nul\0byte")


def test_golden_scripts() -> None:
    job = hostile_job(Path("/shared/wd 'q' $(x) `y` ü\nnl"), Path("/tmp/canary"))
    for is_array, name in ((True, "array.sh"), (False, "single.sh")):
        text = render_script(
            job, tasks_file="t.tasks", is_array=is_array
        )
        golden = GOLDEN / name
        if REGEN:
            golden.write_text(text, encoding="utf-8")
        assert text == golden.read_text(encoding="utf-8"), f"{name} changed; HPCFLOW_REGEN_GOLDEN=1"
    tasks = "\n".join(render_task_list([["a b", "it's", "new\nline", "ü", "$(x)"], ["x"]]))
    if REGEN:
        (GOLDEN / "tasks.txt").write_text(tasks, encoding="utf-8")
    assert tasks == (GOLDEN / "tasks.txt").read_text(encoding="utf-8")


def test_script_directives_are_validated_values_only(tmp_path: Path) -> None:
    job = hostile_job(tmp_path, tmp_path / "c")
    text = render_script(job, tasks_file="t.tasks", is_array=True)
    directives = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert directives[0].startswith("#SBATCH --job-name=name_with_spaces_q_touch_")
    assert directives[1:] == [
        "#SBATCH --comment=hpcflow:wf-1.step_2-a0",
        "#SBATCH --output=slurm-%A.out",  # one log pair per array, not two files per task
        "#SBATCH --error=slurm-%A.err",
        "#SBATCH --open-mode=append",
        "#SBATCH --no-requeue",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=1500M",
        "#SBATCH --gpus=1",
        "#SBATCH --time=2",
        "#SBATCH --partition=debug",
        "#SBATCH --account=proj-1",
        "#SBATCH --qos=normal",
        "#SBATCH --constraint=intel&(ib|opa)",
        "#SBATCH --exclude=n[01-03],gpu7",
    ]
    name = directives[0].removeprefix("#SBATCH --job-name=")
    assert all(c.isalnum() or c in "._-~" for c in name)
    assert tag_of(name, "") == "wf-1.step_2-a0"
    assert "--reservation" not in text  # extra options travel as sbatch argv items


@pytest.mark.parametrize(
    "resources",
    [
        Resources(partition="debug --wrap=x"),
        Resources(account="a\nb"),
        Resources(qos="'q'"),
        Resources(exclude_nodes=("n1 n2",)),
        Resources(cpus=0),
        Resources(memory_mb=-1),
        Resources(time_limit_s=0),
    ],
)
def test_bad_resource_values_are_refused(tmp_path: Path, resources: Resources) -> None:
    job = JobRequest(tag="t", name="n", workdir=tmp_path, tasks=(("true",),), resources=resources)
    with pytest.raises(SpecError):
        render_script(job, tasks_file="t.tasks", is_array=False)


def test_bad_tag_and_env_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        render_script(
            JobRequest(tag="a b", name="n", workdir=tmp_path, tasks=(("true",),)),
            tasks_file="t",
            is_array=False,
        )
    with pytest.raises(SpecError):
        render_script(
            JobRequest(tag="t", name="n", workdir=tmp_path, tasks=(("true",),), env={"A-B": "1"}),
            tasks_file="t",
            is_array=False,
        )


def test_time_rounds_up_to_whole_minutes(tmp_path: Path) -> None:
    for seconds, minutes in ((1, 1), (60, 1), (61, 2), (3600, 60), (86400 * 2, 2880)):
        job = JobRequest(
            tag="t",
            name="n",
            workdir=tmp_path,
            tasks=(("true",),),
            resources=Resources(time_limit_s=seconds),
        )
        text = render_script(job, tasks_file="t", is_array=False)
        assert f"#SBATCH --time={minutes}\n" in text


def test_job_name_is_sanitised() -> None:
    assert job_name("a b/c\n$(x)", "tag1") == "a_b_c_x~tag1"
    assert job_name("$$$", "t") == "job~t"
    assert tag_of("x~t1", "(null)") == "t1" and tag_of("plain", "") is None


def _write_tasks(directory: Path, job: JobRequest) -> None:
    directory.mkdir(exist_ok=True)
    for i, content in enumerate(render_task_list(job.tasks)):
        (directory / str(i)).write_text(content, encoding="utf-8")


def _write_and_run(workdir: Path, job: JobRequest, index: int, offset: int = 0) -> dict:
    _write_tasks(workdir / "tasks", job)
    script = workdir / "job.sh"
    script.write_text(
        render_script(job, tasks_file="tasks", is_array=True),
        encoding="utf-8",
    )
    subprocess.run(["bash", "-n", str(script)], check=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLURM_ARRAY_TASK_ID": str(index)}
    proc = subprocess.run(
        ["bash", str(script), str(offset)], capture_output=True, env=env, cwd="/", check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_hostile_values_arrive_unchanged_and_nothing_runs(tmp_path: Path) -> None:
    workdir = tmp_path / "wd 'q' $(touch x) `touch y` ü\nnl"
    workdir.mkdir()
    canary = tmp_path / "canary"
    job = hostile_job(workdir, canary, tasks=4)
    for index, offset in ((0, 0), (2, 0), (1, 2)):  # offset+index picks the task list line
        got = _write_and_run(workdir, job, index, offset)
        assert got["argv"] == [str(offset + index), *hostile_values(canary)]
        assert got["cwd"] == str(workdir)
        assert got["env"] == {**job.env, "HF_SETUP": "from-site-config"}
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [workdir.name], f"something was executed: {leftovers}"
    assert sorted(p.name for p in workdir.iterdir()) == ["job.sh", "tasks"]


def test_missing_task_and_missing_program(tmp_path: Path) -> None:
    job = JobRequest(tag="t", name="n", workdir=tmp_path, tasks=(("/no/such/program",),))
    _write_tasks(tmp_path / "t", job)
    script = tmp_path / "job.sh"
    script.write_text(
        render_script(job, tasks_file="t", is_array=False),
        encoding="utf-8",
    )
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 127 and "cannot run" in proc.stderr
    proc = subprocess.run(["bash", str(script), "5"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "no task 5" in proc.stderr


def test_an_array_whose_tasks_differ_only_by_their_index_has_one_argv_file(tmp_path: Path) -> None:
    """The engine's tasks (``... --index i``) share one argv file; bash appends the number."""
    canary = tmp_path / "canary"
    dump = ("import json, os, sys; json.dump({'argv': sys.argv[1:]}, sys.stdout)")
    values = hostile_values(canary)
    job = JobRequest(tag="t", name="n", workdir=tmp_path,
                     tasks=tuple((sys.executable, "-c", dump, *values, str(i)) for i in range(5)))
    shared = shared_argv(job.tasks)
    assert shared == [sys.executable, "-c", dump, *values]
    (tmp_path / "t.argv").write_text(render_task_list([shared])[0], encoding="utf-8")
    script = tmp_path / "job.sh"
    script.write_text(render_script(job, tasks_file="t.argv", is_array=True), encoding="utf-8")
    for index, offset in ((0, 0), (3, 0), (1, 3)):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLURM_ARRAY_TASK_ID": str(index)}
        proc = subprocess.run(["bash", str(script), str(offset)], capture_output=True, env=env,
                              cwd="/", check=True)
        assert json.loads(proc.stdout)["argv"] == [*values, str(offset + index)]
    assert not canary.exists()
    # tasks that differ anywhere else keep a file each
    assert shared_argv([("a", "0"), ("b", "1")]) is None
    assert shared_argv([("a", "1"), ("a", "0")]) is None
    assert shared_argv([("a", "0")]) is None


def test_cancelled_task_ids_collapse_into_ranges_and_whole_arrays() -> None:
    from hpcflow.scheduler.slurm.argv import collapse_task_ids

    ids = [f"10_{i}" for i in range(100_000)] + ["11_3", "11_4", "11_5", "11_9", "12_7", "13"]
    # Slurm takes at most 64k ids in one range ("Too many hosts in range")
    assert collapse_task_ids(ids) == ["13", "10_[0-49999,50000-99999]", "11_[3-5,9]", "12_7"]
    assert collapse_task_ids(ids, {"10": 100_000, "11": 10}) == ["13", "10", "11_[3-5,9]", "12_7"]
    assert collapse_task_ids(["13", "13_2"]) == ["13"]  # the whole job covers its tasks


def test_a_job_keeps_a_bash_script_when_it_needs_a_shell(tmp_path: Path) -> None:
    """A Python batch script (tests/slurm/test_slurm_batch_scripts.py) only for the runtime's
    own argv, with no setup lines, no variable read at start-up, and a ``#!`` line Linux
    reads whole (127 bytes) with no whitespace in it."""
    from hpcflow.scheduler.slurm.python_script import runtime_command

    argv = (sys.executable, "-m", "hpcflow.runtime", "--tasks", "t", "--index")
    env = {"PYTHONPATH": "/p", "PYTHONUNBUFFERED": "1", "USER": "u", "HPCFLOW_DFLOW_ALIAS": "1"}

    def job(tasks: tuple[tuple[str, ...], ...], **kw: object) -> JobRequest:
        return JobRequest(tag="t", name="n", workdir=tmp_path, tasks=tasks, **{"env": env, **kw})

    array = tuple((*argv, str(i)) for i in range(3))
    assert runtime_command(job(array)) is not None
    assert runtime_command(job(array[:1])) is not None
    assert runtime_command(job(array, setup_lines=("module load x",))) is None
    assert runtime_command(job(array, env={**env, "LD_LIBRARY_PATH": "/l"})) is None
    long = ("/" + "d" * 130 + "/python", *argv[1:])
    assert runtime_command(job(tuple((*long, str(i)) for i in range(3)))) is None
    spaced = ("/a b/python", *argv[1:])
    assert runtime_command(job(tuple((*spaced, str(i)) for i in range(3)))) is None
    container = ("ch-run", "img", "--", *argv)
    assert runtime_command(job(tuple((*container, str(i)) for i in range(3)))) is None
