"""Does a task's CPU set a 200-task array's wall time? Arrays timed alone on the cluster.

    flock /work/bench.lock .venv/bin/python bench/slurm_task_array.py [--repeats 2]

Two 200-task arrays with the floor's job options (``bench/slurm.py`` FLOOR_SCRIPT, which
are hpcflow's): ``python -c pass``, and ``python -m hpcflow.runtime --tasks LIST --index N``
on a task list of copies of a W1 slice (``bench/task_cpu.py`` makes it), each timed from sbatch until squeue has no
task left. No engine runs meanwhile, so a difference is the tasks' own. ``--batch-scripts``
adds the runtime array in the two batch scripts hpcflow writes (``render_script``: bash,
``render_python_script``: the interpreter's own, no shell), with the same resources.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import task_cpu  # noqa: E402
from slurm import FLOOR_SCRIPT  # noqa: E402

N = 200


def array_script(work: Path, argv: list[str]) -> Path:
    """The floor's script, running ``argv`` with ``{i}`` replaced by the array index."""
    script = FLOOR_SCRIPT.format(name="task-array", logs="slurm-%A_%a", work=work, python="", code="")
    body = script.rsplit("exec", 1)[0] + "exec " + " ".join(argv) + "\n"
    path = work / "array.sh"
    path.write_text(body.replace("{i}", "${SLURM_ARRAY_TASK_ID}"))
    return path


def hpcflow_script(work: Path, tasks: Path, path: str, python_script: bool) -> Path:
    """The runtime array as hpcflow's backend writes it: the bash script (and its argv
    file) or the Python batch script, with the floor's resources."""
    from hpcflow.scheduler.base import IndexedTasks, JobRequest, Resources
    from hpcflow.scheduler.slurm.python_script import render_python_script, runtime_command
    from hpcflow.scheduler.slurm.script import render_script, render_task_list

    argv = tuple(task_cpu.runtime_argv(tasks, "")[:-1])
    job = JobRequest(tag="task-array", name="task-array", workdir=work, tasks=IndexedTasks(argv, N),
                     env={"PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "USER": os.environ.get("USER", "root")},
                     resources=Resources(cpus=1, memory_mb=200, time_limit_s=600, partition="debug"))
    if python_script:
        command = runtime_command(job)
        assert command is not None, "this job would get a bash script"
        script = work / "array.py"
        script.write_text(render_python_script(job, command, is_array=True))
        return script
    (work / "array.argv").write_text(render_task_list([list(argv)])[0])
    script = work / "array.sh"
    script.write_text(render_script(job, tasks_file="array.argv", is_array=True))
    return script


def timed_array(work: Path, script: Path) -> tuple[str, float]:
    t0 = time.perf_counter()
    job = subprocess.run(["sbatch", "--parsable", f"--chdir={work}", f"--array=0-{N - 1}", str(script)],
                         capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
    while subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip():
        time.sleep(0.2)
    return job, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--baseline-tree", type=Path, help="also time the runtime of this source "
                        "tree (e.g. `git archive` of an older commit), byte-compiled, in the same rounds")
    parser.add_argument("--batch-scripts", action="store_true", help="also the runtime in hpcflow's "
                        "own bash and Python batch scripts")
    args = parser.parse_args()
    roots = {"runtime": task_cpu.ROOT}
    if args.batch_scripts:
        roots["bash-script"] = roots["py-script"] = task_cpu.ROOT
    if args.baseline_tree:
        roots["baseline"] = args.baseline_tree.resolve()
    for root in roots.values():  # as bench/slurm.py does
        for directory in ("hpcflow", "bench"):
            compileall.compile_dir(root / directory, quiet=1)
    base = Path(tempfile.mkdtemp(prefix="bench-task-array-", dir="/tmp"))
    (base / "make").mkdir()
    source = task_cpu.make_unit(base / "make", task_cpu.BY_REFERENCE)
    times: dict[str, list[float]] = {kind: [] for kind in ("pass", *roots)}
    for r in range(args.repeats):
        for kind in times:
            work = base / f"{kind}-{r}"
            work.mkdir()
            root = roots.get(kind, task_cpu.ROOT)
            path = ":".join([str(root), str(root / "bench")])
            if kind in ("bash-script", "py-script"):
                tasks = task_cpu.task_list(source, work, N)
                script = hpcflow_script(work, tasks, path, python_script=kind == "py-script")
            elif kind in roots:
                tasks = task_cpu.task_list(source, work, N)
                script = array_script(work, [f"env PYTHONPATH={path}", *task_cpu.runtime_argv(tasks, "{i}")])
            else:
                script = array_script(work, [f"env PYTHONPATH={path}", sys.executable, "-c", "pass"])
            job, elapsed = timed_array(work, script)
            times[kind].append(elapsed)
            done = sum('"succeeded"' in p.read_text() for p in work.glob("u*/exit.json"))
            note = f", {done} units succeeded" if kind in roots else ""
            print(f"round {r + 1}: {N}-task array {job} of {kind:8s} {elapsed:6.2f} s{note}", flush=True)
    floor = statistics.median(times["pass"])
    for kind, values in times.items():
        print(f"median {kind:8s} {statistics.median(values):6.2f} s  ({statistics.median(values) / floor:.2f}x pass)")
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
