"""Slurm benchmark on a real cluster (the single-node test cluster, ``site-configs/slurm-test.toml``).

    python bench/slurm.py [--parts a,b,c,d] [--slices 10000] [--big-slices 100000] [--ticks 5] [--profile]

(a) floor: raw ``sbatch --array=0-199`` of a trivial python3 command plus a reduce job with
    ``--dependency=afterok``, timed from the first sbatch until the reduce job is COMPLETED
    (``squeue`` polled every 0.2 s).
(b) hpcflow W1 (``bench/workloads.py``: 200-slice fan-out + reduce) on the slurm-test site, in
    process: submitted without the background driver, then driven by ``Client.wait`` (the real
    wait policy) with ``Engine.tick`` wrapped to count ticks and the Slurm commands of each tick
    (``hpcflow.scheduler.slurm.backend.COMMAND_COUNTS``). Target: time <= 1.25 x floor, and at
    most one squeue per tick.
(c) one sliced step of ``--slices`` (10,000) trivial slices: the first tick(s) until the array is
    submitted are timed, then ``--ticks`` tracking ticks while the array runs (target: each
    < 0.5 s); then the workflow is cancelled (``Engine.cancel``) and the queue must empty.

(d) one sliced step of ``--big-slices`` (100,000) slices, held after submission, and a
    200-slice step run to the end (``bench/scale.py``): submit time, tracking ticks in
    process and as a fresh ``hpcflow tick``, peak RSS, store size, files per slice, cancel.

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


def floor(n: int = 200) -> float:
    work = Path(tempfile.mkdtemp(prefix="bench-floor-", dir="/tmp"))
    common = ["--parsable", "--partition=debug", "--cpus-per-task=1", "--mem=200M",
              "--time=00:10:00", f"--chdir={work}"]
    t0 = time.perf_counter()
    epoch0 = time.time()
    array_id = sh("sbatch", *common, f"--array=0-{n - 1}", f"--output={work}/%A_%a.out",
                  "--job-name=floor-fan", "--wrap", "python3 -c 'print(1)'").strip().split(";")[0]
    reduce_id = sh("sbatch", *common, f"--dependency=afterok:{array_id}", f"--output={work}/reduce.out",
                   "--job-name=floor-reduce", "--wrap",
                   f"python3 -c 'print(sum(range({n})))'").strip().split(";")[0]
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
    print(f"(a) floor: {n}-task array {array_id} + reduce {reduce_id}: {state} after {elapsed:.2f}s "
          f"(both sbatch took {t_submitted:.2f}s; {polls} polls at {POLL}s)")
    if state != "COMPLETED":
        raise SystemExit("floor run did not complete")
    print("    sacct (relative to the first sbatch): " + job_phases(epoch0, ("floor-fan", "floor-reduce")))
    shutil.rmtree(work, ignore_errors=True)
    return elapsed


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
    """Wraps ``engine.tick``: counts ticks, times them, and counts Slurm commands per tick."""

    def __init__(self, engine, profiler: cProfile.Profile | None = None) -> None:
        from hpcflow.scheduler.slurm import backend

        self.counts = backend.COMMAND_COUNTS
        self.engine = engine
        self.inner = engine.tick
        self.profiler = profiler
        self.ticks: list[tuple[float, Counter, object]] = []
        self.starts: list[float] = []
        self.origin = time.perf_counter()
        engine.tick = self  # instance attribute shadows the method

    def __call__(self):
        before = Counter(self.counts)
        t0 = time.perf_counter()
        self.starts.append(t0 - self.origin)
        if self.profiler is not None:
            self.profiler.enable()
        try:
            report = self.inner()
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


def hpcflow_w1(home: Path, interval: float | None, profile: bool) -> tuple[float, dict]:
    from hpcflow.scheduler.slurm import backend

    sys.path.insert(0, str(HERE))
    import workloads

    client = fresh_client(home)
    backend.reset_command_counts()
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    epoch0 = time.time()
    wf, (name, param, value) = workloads.w1()
    wf_id = submit_undriven(wf)
    meter = TickMeter(client.engine({wf_id}), prof)
    meter.origin = t0
    status = client.wait(wf_id, timeout=1800, interval=interval)
    elapsed = time.perf_counter() - t0
    steps = wf.query_step(name=name)
    got = steps[-1].outputs.parameters[param].value if steps else None
    ok = status == "Succeeded" and got is not None and int(got) == value
    totals = Counter(backend.COMMAND_COUNTS)
    ticks = meter.ticks
    sq = [c.get("squeue", 0) for _, c, _ in ticks]
    info = {
        "ok": ok, "status": status, "ticks": len(ticks), "totals": dict(totals),
        "max_squeue_per_tick": max(sq) if sq else 0,
        "max_tick_s": max(t for t, _, _ in ticks) if ticks else 0.0,
        "tick_s_total": sum(t for t, _, _ in ticks),
    }
    print(f"(b) hpcflow W1 on slurm-test: {status} ({'ok' if ok else 'FAILED'}, total={got}) "
          f"in {elapsed:.2f}s; {len(ticks)} ticks ({info['tick_s_total']:.2f}s inside ticks, "
          f"max tick {info['max_tick_s']:.3f}s)")
    print("    Slurm commands: " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items()))
          + f"; squeue per tick max {info['max_squeue_per_tick']} "
          f"({'ok' if info['max_squeue_per_tick'] <= 1 else 'OVER 1'})")
    for i, (dt, c, rep) in enumerate(ticks):
        cmds = ",".join(f"{k}={v}" for k, v in sorted(c.items())) or "-"
        print(f"    tick {i + 1:>3} at {meter.starts[i]:6.2f}s: {dt:.3f}s cmds[{cmds}] launched={rep.launched} "
              f"finished={rep.finished_units} inflight={rep.inflight}")
    print("    sacct (relative to t0): " + job_phases(epoch0, ("hpcflow.bench-w1.fan", "hpcflow.bench-w1.reduce")))
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
    ap.add_argument("--interval", type=float, default=None,
                    help="max sleep of Client.wait between ticks in (b) (default: its own, 10s)")
    ap.add_argument("--keep-cap", action="store_true", help="(c): keep the site's max_queued_jobs")
    ap.add_argument("--big-slices", type=int, default=100_000, help="slices of (d)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--hold", action="store_true",
                    help="(c): scontrol hold the array after launch, so tracking ticks are measured "
                         "without 32 running tasks competing for the CPU")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))

    print(f"slurm benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, site {SITE}")
    cluster_check()
    base = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    rc = 0
    t_floor = t_w1 = None
    if "a" in parts:
        t_floor = floor()
        wait_queue_empty()
    if "b" in parts:
        t_w1, info = hpcflow_w1(base / "home-b", args.interval, args.profile)
        rc |= 0 if info["ok"] and info["max_squeue_per_tick"] <= 1 else 1
        wait_queue_empty()
    if t_floor and t_w1:
        ratio = t_w1 / t_floor
        print(f"\n(a/b) hpcflow W1 {t_w1:.2f}s / floor {t_floor:.2f}s = {ratio:.2f} "
              f"(target <= 1.25: {'ok' if ratio <= 1.25 else 'MISSED'})")
    if "c" in parts:
        res = big_fanout(base / "home-c", args.slices, args.ticks, args.gap, args.keep_cap, args.profile, args.hold)
        rc |= 0 if res["queue_empty"] else 1
    if "d" in parts:
        sys.path.insert(0, str(HERE))
        import scale

        res = scale.hundred_thousand(base / "home-d", SITE, args.big_slices, args.ticks, args.gap,
                                     fresh_client, submit_undriven, sh, wait_queue_empty)
        rc |= 0 if res["queue_empty"] else 1
        scale.run_to_the_end(lambda: fresh_client(base / "home-d2"))
        wait_queue_empty()
    shutil.rmtree(base, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
