"""CPU of one array task: ``python -m hpcflow.runtime UNIT`` against the bare interpreter.

On a cluster whose array tasks compete for cores, every 10 ms of CPU per task costs ~1.5 s
of W1 wall time (bench/README.md), so this is the number the job path is trimmed against.

    flock /work/bench.lock .venv/bin/python bench/task_cpu.py [--runs 30] [--importtime]

It runs a 4-slice W1 locally to get a real task list (its OPs imported from
bench/workloads.py as bench/slurm.py's W1 has them, or with ``--by-value`` defined in the
script and pickled by value), writes a task list of copies of its first slice, then runs
them one at a time as the engine's jobs do (``--tasks LIST --index N``) and reports
children's user+sys CPU (mean of the faster half). ``--importtime`` prints the
heaviest import self-times of one task instead.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from hpcflow.runtime.tasklist import TASK_LIST, UNITS_LOG, read_task, write_task_list

ROOT = Path(__file__).resolve().parent.parent

#: The OPs as bench/slurm.py's W1 has them: imported from bench/workloads.py (by reference).
BY_REFERENCE = f"""
import sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from workloads import inc, reduce_sum
"""

#: The same OPs defined in the submitting script: shipped by value (cloudpickle).
BY_VALUE = """
from typing import List
from hpcflow.python import OP

@OP.function
def inc(x: int) -> {"y": int}:
    return {"y": x + 1}

@OP.function
def reduce_sum(ys: List[int]) -> {"total": int}:
    return {"total": sum(ys)}
"""

WORKFLOW = '''
from hpcflow import Step, Workflow, argo_range
from hpcflow.python import PythonOPTemplate, Slices

wf = Workflow("task-cpu")
fan = Step("fan", PythonOPTemplate(inc, image="python:3.11", slices=Slices(
    "{{item}}", input_parameter=["x"], output_parameter=["y"])),
    parameters={"x": list(range(4))}, with_param=argo_range(4))
wf.add(fan)
wf.add(Step("reduce", PythonOPTemplate(reduce_sum, image="python:3.11"),
            parameters={"ys": fan.outputs.parameters["y"]}))
wf.submit()
wf.wait()
assert wf.query_status() == "Succeeded", wf.query_status()
'''


def make_unit(tmp: Path, ops: str) -> Path:
    """The task list of a local 4-slice W1's fan-out (the engine's ``tasks.jsonl``)."""
    (tmp / "wf.py").write_text(ops + WORKFLOW)
    env = dict(os.environ, HPCFLOW_HOME=str(tmp / "home"), HPCFLOW_SITE="")
    env.pop("HPCFLOW_SUBMIT_ONLY", None)
    subprocess.run([sys.executable, "wf.py"], cwd=tmp, env=env, check=True)
    for path in (tmp / "home" / "work").glob("task-cpu-*/jobs/*/tasks.jsonl"):
        if read_task(path, 0)[1][0][1]["step"] == "fan(0)":
            return path
    raise SystemExit(f"no task list of the fan-out under {tmp}")


def task_list(source: Path, dest: Path, count: int) -> Path:
    """A task list of ``count`` array tasks in ``dest``, each slice 0 of ``source`` with a
    unit directory of its own that does not exist yet (the runtime makes it, as in a job)."""
    _, [(_, record)] = read_task(source, 0)
    path = dest / TASK_LIST
    write_task_list(path, ([(str(dest / f"u{i}"), record)] for i in range(count)),
                    log=str(dest / UNITS_LOG))
    return path


def runtime_argv(tasks: Path, index: int | str) -> list[str]:
    """What the engine's job runs for array task ``index`` (engine/launch.py runtime_argv)."""
    return [sys.executable, "-m", "hpcflow.runtime", "--tasks", str(tasks), "--index", str(index)]


#: What a job's PYTHONPATH holds here: hpcflow's root and the OPs' directory (job_env.py).
def job_env(root: Path = ROOT) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(root / "bench")]))


JOB_ENV = job_env()


def child_cpu(argv: list[str], cwd: Path, env: dict[str, str] = JOB_ENV) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, env=env, check=False, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def faster_half_ms(samples: list[float]) -> float:
    best = sorted(samples)[: max(1, len(samples) // 2)]
    return 1000 * sum(best) / len(best)


def import_times(argv: list[str], cwd: Path, unit_log: Path, top: int = 25) -> None:
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], cwd=cwd, env=JOB_ENV,
                          check=False, capture_output=True, text=True)
    # what the unit imports once its output is redirected (merged into units.log on success)
    lines = proc.stderr.splitlines() + (unit_log.read_text().splitlines() if unit_log.exists() else [])
    rows = []
    for line in lines:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = (p.strip() for p in line[len("import time:"):].split("|"))
        rows.append((int(self_us), int(cumulative), name))
    total = sum(r[0] for r in rows)
    print(f"{len(rows)} modules imported, self times {total / 1000:.1f} ms in all")
    for self_us, cumulative, name in sorted(rows, reverse=True)[:top]:
        print(f"{self_us / 1000:7.2f} ms self {cumulative / 1000:7.2f} ms cumulative  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--by-value", action="store_true",
                        help="OPs defined in the workflow script (pickled by value), not imported")
    parser.add_argument("--baseline-tree", type=Path, help="also run the runtime of this source tree "
                        "(e.g. `git archive` of an older commit) on the same task list, interleaved")
    parser.add_argument("--no-compile", action="store_true", help="do not byte-compile hpcflow and bench/ first")
    args = parser.parse_args()
    if not args.no_compile:  # as pip install does; this project's shells set PYTHONDONTWRITEBYTECODE
        for root in (ROOT, *([args.baseline_tree] if args.baseline_tree else [])):
            for directory in ("hpcflow", "bench"):
                compileall.compile_dir(root / directory, quiet=1)
    with tempfile.TemporaryDirectory(prefix="hpcflow-task-cpu-") as name:
        tmp = Path(name)
        source = make_unit(tmp, BY_VALUE if args.by_value else BY_REFERENCE)
        (tmp / "runs").mkdir()
        tasks = task_list(source, tmp / "runs", 2 * args.runs)
        if args.importtime:
            import_times(runtime_argv(tasks, 0), tmp, tmp / "runs" / UNITS_LOG)
            return 0
        floor: list[float] = []
        hpcflow: list[float] = []
        baseline: list[float] = []
        base_env = job_env(args.baseline_tree.resolve()) if args.baseline_tree else None
        for i in range(args.runs):  # interleaved, so all see the same machine
            floor.append(child_cpu([sys.executable, "-c", "pass"], tmp))
            hpcflow.append(child_cpu(runtime_argv(tasks, 2 * i), tmp))
            if base_env is not None:
                baseline.append(child_cpu(runtime_argv(tasks, 2 * i + 1), tmp, base_env))
            for n in (2 * i, 2 * i + 1) if base_env is not None else (2 * i,):
                exit_record = (tmp / "runs" / f"u{n}" / "exit.json").read_text()
                if '"succeeded"' not in exit_record:
                    print(exit_record, file=sys.stderr)
                    return 1
        f, h = faster_half_ms(floor), faster_half_ms(hpcflow)
        print(f"CPU per task, mean of the faster half of {args.runs} runs:")
        print(f"  python -c pass                              {f:6.1f} ms")
        print(f"  python -m hpcflow.runtime --tasks L --index {h:6.1f} ms  ({h - f:+.1f} ms)")
        if baseline:
            b = faster_half_ms(baseline)
            print(f"  the same, {args.baseline_tree}  {b:6.1f} ms  ({b - f:+.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
