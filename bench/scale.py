"""Part (d) of ``bench/slurm.py``: one sliced step of 100,000 slices on the real cluster.

Prints, each with its target: the time from ``wf.submit()`` until every slice is in an
array (split at MaxArraySize), the tracking tick with the array held (in this process, as
the daemon ticks, and as a fresh ``hpcflow tick`` process, as cron runs it, minus the
start-up of the same command against an empty store), the peak RSS of both processes, the
store's size, the files and directories per slice on the work root (at submission, and
for a 200-slice step run to the end), and the cancel (one ``scancel``).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _entries(root: Path) -> int:
    return sum(1 for _ in root.rglob("*")) if root.exists() else 0


def _store_bytes(home: Path) -> tuple[int, int]:
    """The store's database file, and its write-ahead log and shared memory."""
    db = home / "hpcflow.db"
    return db.stat().st_size, sum(p.stat().st_size for p in home.glob("hpcflow.db-*"))


#: Runs ``hpcflow tick`` as the console script does and writes the process's own peak RSS
#: (``VmHWM``, KiB) to the file named by argv[1]. ``ru_maxrss`` of a child is no use here:
#: Linux carries the parent's peak across fork + exec, so a child of this 300 MB process
#: reported 300 MB whatever it used.
_TICK_AND_HWM = """
import atexit, sys
out = sys.argv[1]
def hwm():
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(out, "w") as f:
        f.write(str(kib))
atexit.register(hwm)
sys.argv = ["hpcflow", "tick"]
from hpcflow.cli.main import main
sys.exit(main())
"""


def _fresh_tick(home: Path, site: Path) -> tuple[float, int]:
    """Wall time of ``hpcflow tick`` in a fresh process, and that process's peak RSS (KiB)."""
    env = dict(os.environ, HPCFLOW_HOME=str(home), HPCFLOW_SITE=str(site))
    env.pop("HPCFLOW_SUBMIT_ONLY", None)
    hwm = home.parent / "tick-hwm"
    hwm.unlink(missing_ok=True)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _TICK_AND_HWM, str(hwm)], env=env, cwd="/",
                          stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        print(f"    hpcflow tick exited with status {done.returncode}")
    return wall, int(hwm.read_text()) if hwm.exists() else 0


def run_to_the_end(home_factory: Any, slices: int = 200) -> float:
    """Files and directories per slice left by a sliced step of trivial slices run to the end."""
    from hpcflow import Step, Workflow
    from hpcflow.python import PythonOPTemplate, Slices

    sys.path.insert(0, str(HERE))
    import workloads

    client = home_factory()
    wf = Workflow("bench-layout")
    wf.add(Step("fan", PythonOPTemplate(workloads.inc, slices=Slices(
        input_parameter=["x"], output_parameter=["y"])), parameters={"x": list(range(slices))}))
    wf.submit()
    status = wf.wait(timeout=900)
    work_dir = Path(wf.query()["work_dir"])
    per_slice = [_entries(d) + 1 for d in work_dir.iterdir() if d.name.startswith("fan(")]
    jobs = _entries(work_dir / "jobs")
    worst = max(per_slice) if per_slice else 0
    print(f"(d) {slices}-slice step run to the end ({status}): {worst} files/dirs per slice at most "
          f"(target <= 3: {_mark(0 < worst <= 3)}), {jobs} in jobs/ for the whole array, "
          f"{(sum(per_slice) + jobs) / slices:.2f} per slice in all")
    client.store.close()
    return float(worst)


def hundred_thousand(home: Path, site: Path, slices: int, n_ticks: int, gap: float,
                     fresh_client: Any, submit_undriven: Any, sh: Any, wait_queue_empty: Any) -> dict:
    import dataclasses

    from hpcflow import Step, Workflow, argo_range
    from hpcflow.engine.engine import Engine
    from hpcflow.python import PythonOPTemplate, Slices
    from hpcflow.scheduler.slurm import backend

    sys.path.insert(0, str(HERE))
    import workloads

    client = fresh_client(home)
    settings = dataclasses.replace(client.settings, max_queued_jobs=max(slices, client.settings.max_queued_jobs or 0))
    backend.reset_command_counts()
    wf = Workflow("bench-100k")
    wf.add(Step("fan", PythonOPTemplate(workloads.inc, image="python:3.11", slices=Slices(
        "{{item}}", input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(slices))}, with_param=argo_range(slices)))
    lock = client.lock
    t0, cpu0 = time.perf_counter(), time.process_time()
    wf_id = submit_undriven(wf)
    engine = Engine(client.store, client.scheduler, settings, only={wf_id})
    ticks = 0
    while True:
        with lock:
            engine.tick()
        ticks += 1
        submitted = sum(1 for a in engine.inflight.values() if a.status == "submitted")
        if submitted >= slices or ticks >= 5:
            break
    t_submit, cpu_submit = time.perf_counter() - t0, time.process_time() - cpu0
    bases = sorted({a.job_id.split("_")[0] for a in engine.inflight.values() if a.job_id})
    sh("scontrol", "hold", *bases, check=False)
    cmds = dict(backend.COMMAND_COUNTS)
    print(f"(d) {slices} slices: wf.submit() to {submitted} slices in {len(bases)} array(s) "
          f"{t_submit:.2f}s (cpu of this process {cpu_submit:.2f}s) in {ticks} tick(s) "
          f"(target < 10 s: {_mark(t_submit < 10)}); cmds {cmds}")
    work_dir = Path(client.store.get_workflow(wf_id)["work_dir"])
    at_submit = _entries(work_dir)
    print(f"    work root at submission: {at_submit} files/dirs ({at_submit / slices:.4f} per slice)")
    time.sleep(3)  # the tasks that started before the hold finish
    track = []
    for _ in range(n_ticks):
        time.sleep(gap)
        c0, t1 = time.process_time(), time.perf_counter()
        with lock:
            rep = engine.tick()
        track.append((time.perf_counter() - t1, time.process_time() - c0, rep.finished_units))
    worst = max(t for t, _, _ in track)
    print("    daemon tracking ticks: " + ", ".join(f"{t:.3f}s (cpu {c:.3f}s, {f} finished)"
                                               for t, c, f in track)
          + f"; max {worst:.3f}s (target < 0.5 s: {_mark(worst < 0.5)})")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"    peak RSS of this process (submit + ticks): {rss_mb:.0f} MB (target < 200 MB: "
          f"{_mark(rss_mb < 200)})")
    empty_home = home.parent / "home-empty"
    empty_home.mkdir(exist_ok=True)
    fresh = [_fresh_tick(home, site) for _ in range(3)]
    startup = min(_fresh_tick(empty_home, site)[0] for _ in range(3))
    best = min(t for t, _ in fresh) - startup
    cron_rss = max(r for _, r in fresh) / 1024
    print("    cron `hpcflow tick`: " + ", ".join(f"{t:.3f}s" for t, _ in fresh)
          + f"; the same against an empty store {startup:.3f}s; tick itself {best:.3f}s "
          f"(target < 0.5 s: {_mark(best < 0.5)}); peak RSS {cron_rss:.0f} MB "
          f"(target < 200 MB: {_mark(cron_rss < 200)})")
    db, wal = _store_bytes(home)
    store_mb = db / 1e6
    print(f"    store {store_mb:.1f} MB (target < 100 MB: {_mark(store_mb < 100)}), its WAL "
          f"{wal / 1e6:.1f} MB besides")
    before = Counter(backend.COMMAND_COUNTS)
    t2 = time.perf_counter()
    with lock:
        n = Engine(client.store, client.scheduler, settings, only={wf_id}).cancel(wf_id)
    t_cancel = time.perf_counter() - t2
    delta = Counter(backend.COMMAND_COUNTS)
    delta.subtract(before)
    empty = wait_queue_empty(180)
    print(f"    cancel: {n} tasks in {t_cancel:.2f}s with {delta['scancel']} scancel "
          f"(target 1: {_mark(delta['scancel'] == 1)}); queue {'empty' if empty else 'NOT EMPTY'}")
    return {"submit_s": t_submit, "track_s": worst, "cron_s": best, "rss_mb": rss_mb,
            "cron_rss_mb": cron_rss, "store_mb": store_mb, "queue_empty": empty}
