"""Slurm benchmark on a real cluster (the single-node test cluster, ``site-configs/slurm-test.toml``).

    python bench/slurm.py [--parts a,b,c,d,e] [--repeats 3] [--slices 10000] [--big-slices 100000]
                          [--ticks 5] [--profile]

(a) floor: raw ``sbatch --array=0-199`` of a plain ``python -c 'print(1)'`` plus a reduce job
    with ``--dependency=afterok``, timed from the first sbatch until the reduce job is COMPLETED
    (``squeue`` polled every 0.2 s). Its job scripts ask Slurm for exactly what hpcflow's do
    (``--no-requeue``, cpus, memory, time, partition, one ``.out``/``.err`` per task, ``cd``)
    and run the interpreter hpcflow's tasks run (``--floor-python``; not a pyenv shim).
(b) hpcflow W1 (``bench/workloads.py``: 200-slice fan-out + reduce) on the slurm-test site, the
    way a user runs it: ``wf.submit()`` (the background driver ticks) then ``wf.wait()``, with
    ``Engine.tick`` wrapped to count ticks and the Slurm commands of each tick
    (``hpcflow.scheduler.slurm.backend.COMMAND_COUNTS``). Targets: time <= 1.25 x floor
    (median of ``--repeats`` interleaved runs), <= 20 squeue calls. ``--baseline-tree DIR``
    also runs W1 from another source tree (e.g. ``git archive`` of an older commit) after
    each of ours, in the same rounds, and prints its median against the floor and ours.
(d) chains (``bench/slurm_chain.py``): a raw ``afterok`` chain of 30 jobs, W2 chained with
    ``afterok``, W2 fused (``Steps(fuse=True)``), ``--repeats`` interleaved; ratios printed.
(c) one sliced step of ``--slices`` (10,000) trivial slices: the first tick(s) until the array is
    submitted are timed, then ``--ticks`` tracking ticks while the array runs (target: each
    < 0.5 s); then the workflow is cancelled (``Engine.cancel``) and the queue must empty.
(e) one sliced step of ``--big-slices`` (100,000) slices, held after submission, and a
    200-slice step run to the end (``bench/scale.py``): submit time, tracking ticks in
    process and as a fresh ``hpcflow tick``, peak RSS, store size, files per slice, cancel.

hpcflow and bench/ are byte-compiled first (as ``pip install`` does; ``--no-compile`` not).
Runs one part after the other (the machine has 2 cores). ``--profile`` prints cProfile's top
functions of (b)'s ticks and (c)'s ticks.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SITE = REPO / "site-configs" / "slurm-test.toml"
POLL = 0.2


def sh(*argv: str, check: bool = True) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}...: rc={proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def job_phases(since: float, names: tuple[str, ...]) -> str:
    """First submit / first start / last end per job name, from sacct (1 s resolution),
    as seconds after ``since`` (epoch)."""
    from datetime import datetime

    time.sleep(2)  # let slurmdbd catch up
    start = datetime.fromtimestamp(since - 1).strftime("%Y-%m-%dT%H:%M:%S")
    out = sh("sacct", "-X", "-P", "-n", "-S", start, "-o", "JobName,Submit,Start,End", check=False)
    spans: dict[str, list[float]] = {}
    for line in out.splitlines():
        name, *stamps = line.split("|")
        name = name.split("~")[0]
        if name not in names or len(stamps) != 3:
            continue
        try:
            sub, st, en = (datetime.strptime(x, "%Y-%m-%dT%H:%M:%S").timestamp() - since for x in stamps)
        except ValueError:
            continue
        cur = spans.setdefault(name, [sub, st, en])
        cur[0], cur[1], cur[2] = min(cur[0], sub), min(cur[1], st), max(cur[2], en)
    return "; ".join(f"{n}: submit {v[0]:+.0f}s start {v[1]:+.0f}s end {v[2]:+.0f}s"
                     for n, v in spans.items()) or "sacct: no rows"


def queue_empty() -> bool:
    return not sh("squeue", "--me", "--noheader", "-o", "%i").strip()


def wait_queue_empty(timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue_empty():
            return True
        time.sleep(0.5)
    return queue_empty()


def cluster_check() -> None:
    cfg = sh("scontrol", "show", "config")
    wanted = {"MaxJobCount": 200000, "MaxArraySize": 100001}
    for line in cfg.splitlines():
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key in wanted:
            ok = value.isdigit() and int(value) >= wanted[key]
            print(f"cluster: {key} = {value} ({'ok' if ok else 'TOO SMALL, need ' + str(wanted[key])})")
            if not ok:
                raise SystemExit(f"cluster {key} too small for the benchmark")
    print("cluster: " + " ".join(sh("sinfo", "--noheader", "-o", "%P %a %D %C %T").split()))
    if not queue_empty():
        print("WARNING: the queue is not empty; timings include other jobs")


# ----------------------------------------------------------------------------- (a) floor

#: What hpcflow's job script asks Slurm for (hpcflow/scheduler/slurm/script.py render_script
#: with the slurm-test site's defaults): the floor asks for exactly the same.
FLOOR_SCRIPT = """#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --comment=floor
#SBATCH --output={logs}.out
#SBATCH --error={logs}.err
#SBATCH --no-requeue
#SBATCH --cpus-per-task=1
#SBATCH --mem=200M
#SBATCH --time=10
#SBATCH --partition=debug
export USER="${{USER:-$(id -un)}}"
cd -- {work} || exit 97
exec {python} -c {code}
"""


def install_kind() -> str:
    """Whether this interpreter starts with an editable install's import hook: every Python
    process of it loads the hook (the floor's tasks as much as ours), ~12 ms of CPU per task
    on the test cluster, so a regular `pip install .` measures what a cluster install runs."""
    if any(name.startswith("__editable__") for name in sys.modules):
        return "an editable install: every task, the floor's too, loads its import hook"
    return "a regular install"


def floor(n: int = 200, python: str = sys.executable) -> float:
    """A raw array of ``n`` plain ``python -c`` tasks plus an afterok reduce, with the same
    #SBATCH resources and options as hpcflow's jobs and the same interpreter as its tasks."""
    work = Path(tempfile.mkdtemp(prefix="bench-floor-", dir="/tmp"))
    fan = work / "fan.sh"
    fan.write_text(FLOOR_SCRIPT.format(name="floor-fan", logs="slurm-%A_%a", work=work, python=python,
                                       code="'print(1)'"))
    red = work / "reduce.sh"
    red.write_text(FLOOR_SCRIPT.format(name="floor-reduce", logs="slurm-%j", work=work, python=python,
                                       code=f"'print(sum(range({n})))'"))
    t0 = time.perf_counter()
    epoch0 = time.time()
    array_id = sh("sbatch", "--parsable", f"--chdir={work}", f"--array=0-{n - 1}", str(fan), "0"
                  ).strip().split(";")[0]
    reduce_id = sh("sbatch", "--parsable", f"--chdir={work}", f"--dependency=afterok:{array_id}",
                   str(red), "0").strip().split(";")[0]
    t_submitted = time.perf_counter() - t0
    polls = 0
    state = ""
    while True:
        polls += 1
        state = sh("squeue", "--noheader", "-t", "all", "-j", reduce_id, "-o", "%T", check=False).strip()
        if not state:  # aged out of the controller: ask accounting
            state = sh("sacct", "-X", "-n", "-P", "-j", reduce_id, "-o", "State", check=False).strip()
        if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL") \
                or state.startswith("CANCELLED"):
            break
        time.sleep(POLL)
    elapsed = time.perf_counter() - t0
    print(f"(a) floor: {n}-task array {array_id} + reduce {reduce_id} of `{python} -c`: {state} after "
          f"{elapsed:.2f}s (both sbatch took {t_submitted:.2f}s; {polls} polls at {POLL}s)")
    if state != "COMPLETED":
        raise SystemExit("floor run did not complete")
    print("    sacct (relative to the first sbatch): " + job_phases(epoch0, ("floor-fan", "floor-reduce")))
    shutil.rmtree(work, ignore_errors=True)
    return elapsed


def baseline_w1(tree: Path) -> float:
    """W1 run by another source tree's own bench (its hpcflow first on PYTHONPATH, so its
    jobs run its runtime too); the wall time it printed."""
    tree = tree.resolve()
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(tree / "bench" / "slurm.py"), "--parts", "b", "--repeats", "1"],
                         cwd=tree, env=env, capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if line.startswith("(b) hpcflow W1") and "Succeeded" in line:
            seconds = float(line.split(" in ")[1].split("s;")[0])
            print(f"(b) baseline {tree}: W1 {seconds:.2f}s")
            return seconds
    raise SystemExit(f"baseline W1 in {tree} did not succeed:\n{out[-2000:]}")


def byte_compile() -> None:
    """Compile hpcflow and the bench's OP module, as ``pip install`` does for a package.

    With PYTHONDONTWRITEBYTECODE set (it is, in this project's shells) and a source checkout,
    nothing else ever writes the .pyc files and every job compiles ~30 modules again
    (~37 ms of CPU per task, measured)."""
    import compileall

    for d in (REPO / "hpcflow", HERE):
        compileall.compile_dir(str(d), quiet=1)


# ---------------------------------------------------------------------- hpcflow helpers


def fresh_client(home: Path):
    """A client of the slurm-test site in a fresh HPCFLOW_HOME (no background driver)."""
    os.environ["HPCFLOW_HOME"] = str(home)
    os.environ["HPCFLOW_SITE"] = str(SITE)
    os.environ["HPCFLOW_NO_ATEXIT"] = "1"
    os.environ["BENCH_ENGINE"] = "hpcflow"
    from hpcflow.client import get_client, reset_clients

    reset_clients()
    return get_client()


def submit_undriven(wf) -> str:
    """``wf.submit()`` without starting the background driver thread."""
    os.environ["HPCFLOW_SUBMIT_ONLY"] = "1"
    try:
        return wf.submit()
    finally:
        os.environ.pop("HPCFLOW_SUBMIT_ONLY", None)


class TickMeter:
    """Wraps ``Engine.tick`` of one engine, or of every engine (``engine=None``: the class, as
    for the background driver's own engine): counts and times ticks and the Slurm commands
    of each."""

    def __init__(self, engine=None, profiler: cProfile.Profile | None = None) -> None:
        from hpcflow.engine.engine import Engine
        from hpcflow.scheduler.slurm import backend

        self.counts = backend.COMMAND_COUNTS
        self.engine = engine
        self.inner = engine.tick if engine is not None else Engine.tick
        self.profiler = profiler
        self.ticks: list[tuple[float, Counter, object]] = []
        self.starts: list[float] = []
        self.origin = time.perf_counter()
        if engine is not None:
            engine.tick = self  # instance attribute shadows the method
        else:
            meter = self

            def tick(eng):
                return meter(eng)

            Engine.tick = tick

    def restore(self) -> None:
        from hpcflow.engine.engine import Engine

        if self.engine is None:
            Engine.tick = self.inner

    def __call__(self, *bound):
        before = Counter(self.counts)
        t0 = time.perf_counter()
        self.starts.append(t0 - self.origin)
        if self.profiler is not None:
            self.profiler.enable()
        try:
            report = self.inner(*bound)
        finally:
            if self.profiler is not None:
                self.profiler.disable()
        dt = time.perf_counter() - t0
        delta = Counter(self.counts)
        delta.subtract(before)
        self.ticks.append((dt, +delta, report))
        return report


def print_profile(prof: cProfile.Profile, title: str, limit: int = 25) -> None:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    print(f"\n--- cProfile: {title} (cumulative, top {limit}) ---")
    print("\n".join(ln for ln in out.getvalue().splitlines() if ln.strip())[:12000])


# -------------------------------------------------------------------------- (b) W1


def hpcflow_w1(home: Path, profile: bool) -> tuple[float, dict]:
    """W1 the way a user runs it: ``wf.submit()`` (the background driver ticks) then
    ``wf.wait()``."""
    from hpcflow.scheduler.slurm import backend

    sys.path.insert(0, str(HERE))
    import workloads

    fresh_client(home)
    backend.reset_command_counts()
    prof = cProfile.Profile() if profile else None
    meter = TickMeter(None, prof)
    t0 = time.perf_counter()
    meter.origin = t0
    epoch0 = time.time()
    try:
        wf, (name, param, value) = workloads.w1()
        wf.submit()
        status = wf.wait(timeout=1800)
        elapsed = time.perf_counter() - t0
    finally:
        meter.restore()
    steps = wf.query_step(name=name)
    got = steps[-1].outputs.parameters[param].value if steps else None
    ok = status == "Succeeded" and got is not None and int(got) == value
    totals = Counter(backend.COMMAND_COUNTS)
    ticks = meter.ticks
    sq = [c.get("squeue", 0) for _, c, _ in ticks]
    info = {
        "ok": ok, "status": status, "ticks": len(ticks), "totals": dict(totals),
        "squeue": totals.get("squeue", 0),
        "max_squeue_per_tick": max(sq) if sq else 0,
        "max_tick_s": max(t for t, _, _ in ticks) if ticks else 0.0,
        "tick_s_total": sum(t for t, _, _ in ticks),
    }
    print(f"(b) hpcflow W1 on slurm-test (wf.submit() + wf.wait()): {status} "
          f"({'ok' if ok else 'FAILED'}, total={got}) in {elapsed:.2f}s; {len(ticks)} ticks "
          f"({info['tick_s_total']:.2f}s inside ticks, max tick {info['max_tick_s']:.3f}s)")
    print("    Slurm commands: " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items()))
          + f"; squeue calls {info['squeue']} (target <= 20: "
          f"{'ok' if info['squeue'] <= 20 else 'MISSED'}), at most {info['max_squeue_per_tick']} per tick")
    for i, (dt, c, rep) in enumerate(ticks):
        if not c and not rep.launched and not rep.finished_units:
            continue  # a tick without a query and without news
        cmds = ",".join(f"{k}={v}" for k, v in sorted(c.items())) or "-"
        print(f"    tick {i + 1:>4} at {meter.starts[i]:6.2f}s: {dt:.3f}s cmds[{cmds}] launched={rep.launched} "
              f"finished={rep.finished_units} inflight={rep.inflight}")
    print("    sacct (relative to t0): " + job_phases(epoch0, ("hpcflow.bench-w1.fan", "hpcflow.bench-w1.reduce")))
    print(f"    the engine saw the reduce end at +{elapsed:.2f}s")
    if prof is not None:
        print_profile(prof, "(b) W1 ticks")
    return elapsed, info


# ----------------------------------------------------------------------- (c) 10k slices


def big_fanout(home: Path, slices: int, n_ticks: int, gap: float, keep_cap: bool,
               profile: bool, hold: bool = False) -> dict:
    from hpcflow import Step, Workflow, argo_range
    from hpcflow.engine.engine import Engine
    from hpcflow.python import PythonOPTemplate, Slices
    from hpcflow.scheduler.slurm import backend

    sys.path.insert(0, str(HERE))
    import workloads

    client = fresh_client(home)
    settings = client.settings
    if not keep_cap and settings.max_queued_jobs is not None and settings.max_queued_jobs < slices:
        print(f"(c) note: site max_queued_jobs={settings.max_queued_jobs} lifted to {slices} for this "
              "test (use --keep-cap to keep it)")
        settings = dataclasses.replace(settings, max_queued_jobs=slices)
    backend.reset_command_counts()
    wf = Workflow("bench-10k")
    wf.add(Step("fan", PythonOPTemplate(workloads.inc, image="python:3.11", slices=Slices(
        "{{item}}", input_parameter=["x"], output_parameter=["y"])),
        parameters={"x": list(range(slices))}, with_param=argo_range(slices)))
    t0 = time.perf_counter()
    wf_id = submit_undriven(wf)
    t_submit = time.perf_counter() - t0
    engine = Engine(client.store, client.scheduler, settings, only={wf_id})
    timers = instrument(client.scheduler)
    prof = cProfile.Profile() if profile else None
    meter = TickMeter(engine, prof)
    lock = client.lock
    result: dict = {"submit_s": t_submit}

    def tick():
        lock.acquire(timeout=30)
        try:
            return engine.tick()
        finally:
            lock.release()

    # Tick until the slices are submitted (normally the first tick does it all).
    launch_ticks = []
    while True:
        rep = tick()
        launch_ticks.append(meter.ticks[-1])
        submitted = sum(1 for a in engine.inflight.values() if a.status == "submitted")
        if submitted >= min(slices, settings.max_queued_jobs or slices) or len(launch_ticks) >= 5:
            break
    first = sum(t for t, _, _ in launch_ticks)
    cmds = Counter()
    for _, c, _ in launch_ticks:
        cmds.update(c)
    result.update(first_ticks=len(launch_ticks), first_s=first, submitted=submitted)
    print(f"(c) {slices}-slice step: submit() {t_submit:.2f}s; {len(launch_ticks)} tick(s) to launch: "
          + ", ".join(f"{t:.2f}s" for t, _, _ in launch_ticks)
          + f" (total {first:.2f}s); {submitted} slices submitted; cmds "
          + ",".join(f"{k}={v}" for k, v in sorted(cmds.items())))
    if hold:
        bases = sorted({a.job_id.split("_")[0] for a in engine.inflight.values() if a.job_id})
        sh("scontrol", "hold", *bases, check=False)
        time.sleep(3)  # the tasks already running finish; the rest stay pending (held)
        print(f"    held the pending tasks of {','.join(bases)} (tracking ticks measure the engine "
              "without the jobs competing for the 2 cores)")
    # Tracking ticks while the array runs.
    track = []
    split = []
    for _ in range(n_ticks):
        time.sleep(gap)
        before = dict(timers)
        cpu0 = time.process_time()
        tick()
        cpu = time.process_time() - cpu0
        track.append(meter.ticks[-1])
        split.append((cpu, {k: timers[k] - before[k] for k in timers}))
    for i, (dt, c, rep) in enumerate(track):
        cmd = ",".join(f"{k}={v}" for k, v in sorted(c.items())) or "-"
        cpu, parts = split[i]
        print(f"    tracking tick {i + 1}: {dt:.3f}s cmds[{cmd}] finished={rep.finished_units} "
              f"inflight={rep.inflight} polled={rep.polled} | process cpu {cpu:.3f}s, "
              f"slurm commands {parts['command_s']:.3f}s, poll() total {parts['poll_s']:.3f}s, "
              f"read_exit {parts['read_exit_s']:.3f}s ({parts['read_exit_n']:.0f} calls)")
    max_track = max(t for t, _, _ in track) if track else 0.0
    result["max_track_s"] = max_track
    result["track_s"] = [round(t, 3) for t, _, _ in track]
    print(f"    max tracking tick {max_track:.3f}s (target < 0.5s: {'ok' if max_track < 0.5 else 'MISSED'})")
    # Cancel and check the queue empties.
    t1 = time.perf_counter()
    lock.acquire(timeout=30)
    try:
        n = Engine(client.store, client.scheduler, settings, only={wf_id}).cancel(wf_id)
    finally:
        lock.release()
    t_cancel = time.perf_counter() - t1
    empty = wait_queue_empty(120)
    t_empty = time.perf_counter() - t1
    result.update(cancel_s=t_cancel, cancelled=n, queue_empty=empty, empty_after_s=t_empty,
                  status=client.store.workflow_status(wf_id))
    print(f"    cancel: {n} task ids in {t_cancel:.2f}s (scancel calls: "
          f"{backend.COMMAND_COUNTS.get('scancel', 0)}); workflow {result['status']}; queue "
          f"{'empty' if empty else 'NOT EMPTY'} after {t_empty:.1f}s")
    if prof is not None:
        print_profile(prof, "(c) ticks (launch + tracking)")
    return result


def instrument(scheduler) -> dict:
    """Time the Slurm commands, ``poll()`` and the engine's exit-record reads (bench-only
    wrappers; the library is unchanged)."""
    from hpcflow.runtime import records as rec

    timers = {"command_s": 0.0, "poll_s": 0.0, "read_exit_s": 0.0, "read_exit_n": 0.0}
    transport = scheduler.transport
    run, poll = transport.run, scheduler.poll
    read_exit = rec.read_exit

    def timed_run(*a, **k):
        t = time.perf_counter()
        try:
            return run(*a, **k)
        finally:
            timers["command_s"] += time.perf_counter() - t

    def timed_poll(*a, **k):
        t = time.perf_counter()
        try:
            return poll(*a, **k)
        finally:
            timers["poll_s"] += time.perf_counter() - t

    def timed_read_exit(*a, **k):
        t = time.perf_counter()
        try:
            return read_exit(*a, **k)
        finally:
            timers["read_exit_s"] += time.perf_counter() - t
            timers["read_exit_n"] += 1

    transport.run = timed_run
    scheduler.poll = timed_poll
    rec.read_exit = timed_read_exit
    return timers


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="a,b,c")
    ap.add_argument("--slices", type=int, default=10000)
    ap.add_argument("--ticks", type=int, default=5, help="tracking ticks measured in (c)")
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between tracking ticks in (c)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="run (a) and (b), and (d), this many times, interleaved; prints the medians")
    ap.add_argument("--floor-python", default=sys.executable,
                    help="the interpreter of the floor's tasks (default: the one hpcflow's tasks "
                         "run, this one; a pyenv shim `python3` adds ~70 ms of bash per task)")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile hpcflow and bench/ first")
    ap.add_argument("--keep-cap", action="store_true", help="(c): keep the site's max_queued_jobs")
    ap.add_argument("--big-slices", type=int, default=100_000, help="slices of (e)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--hold", action="store_true",
                    help="(c): scontrol hold the array after launch, so tracking ticks are measured "
                         "without 32 running tasks competing for the CPU")
    ap.add_argument("--baseline-tree", type=Path,
                    help="(b): also run W1 with this source tree (e.g. `git archive` of an older "
                         "commit; its own bench/slurm.py, PYTHONPATH on it) after each of ours")
    ap.add_argument("--chain-interval", type=float, default=1.0,
                    help="(d): max sleep of Client.wait between ticks")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))

    print(f"slurm benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, site {SITE}")
    print(f"interpreter {sys.executable} ({install_kind()})")
    cluster_check()
    base = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    rc = 0
    if not args.no_compile:
        byte_compile()
        print("byte-compiled hpcflow and bench/ (as pip install does; PYTHONDONTWRITEBYTECODE="
              f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r} here)")
    floors: list[float] = []
    w1s: list[float] = []
    squeues: list[int] = []
    baselines: list[float] = []
    for r in range(args.repeats):  # interleaved: floor, hpcflow, floor, hpcflow, ...
        if "a" in parts:
            floors.append(floor(python=args.floor_python))
            wait_queue_empty()
        if "b" in parts:
            t_w1, info = hpcflow_w1(base / f"home-b{r}", args.profile)
            w1s.append(t_w1)
            squeues.append(info["squeue"])
            rc |= 0 if info["ok"] and info["max_squeue_per_tick"] <= 1 else 1
            wait_queue_empty()
            if args.baseline_tree:
                baselines.append(baseline_w1(args.baseline_tree))
                wait_queue_empty()
    if floors and w1s:
        print()
        for i, (f, w) in enumerate(zip(floors, w1s, strict=False)):
            print(f"(a/b) run {i + 1}: hpcflow W1 {w:.2f}s / floor {f:.2f}s = {w / f:.2f}; squeue calls {squeues[i]}")
        ratio = statistics.median(w1s) / statistics.median(floors)
        print(f"(a/b) median of {len(w1s)}: hpcflow W1 {statistics.median(w1s):.2f}s / floor "
              f"{statistics.median(floors):.2f}s = {ratio:.2f} (target <= 1.25: "
              f"{'ok' if ratio <= 1.25 else 'MISSED'}); squeue calls median "
              f"{statistics.median(squeues):.0f} (target <= 20: "
              f"{'ok' if statistics.median(squeues) <= 20 else 'MISSED'})")
        if baselines:
            print(f"(a/b) baseline {args.baseline_tree}: W1 " + " / ".join(f"{b:.2f}s" for b in baselines)
                  + f", median {statistics.median(baselines):.2f}s = "
                  f"{statistics.median(baselines) / statistics.median(floors):.2f} x floor; this tree "
                  f"{statistics.median(w1s) / statistics.median(baselines):.2f} x baseline")
    if "d" in parts:  # (d) raw afterok chain, (e) W2 chained, (f) W2 fused: bench/slurm_chain.py
        import slurm_chain

        rc |= slurm_chain.run(args.repeats, args.chain_interval)
    if "c" in parts:
        res = big_fanout(base / "home-c", args.slices, args.ticks, args.gap, args.keep_cap, args.profile, args.hold)
        rc |= 0 if res["queue_empty"] else 1
    if "e" in parts:  # (e) 100,000 slices: bench/scale.py
        sys.path.insert(0, str(HERE))
        import scale

        res = scale.hundred_thousand(base / "home-e", SITE, args.big_slices, args.ticks, args.gap,
                                     fresh_client, submit_undriven, sh, wait_queue_empty)
        rc |= 0 if res["queue_empty"] else 1
        scale.run_to_the_end(lambda: fresh_client(base / "home-e2"))
        wait_queue_empty()
    shutil.rmtree(base, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
