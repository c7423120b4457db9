"""Chains on real Slurm: W2 (30 sequential steps) against a raw ``afterok`` chain.

    flock /work/bench.lock python bench/slurm_chain.py [--repeats 3] [--interval 1.0]

Each repeat runs, one after the other (interleaved, so the ratios compare runs of the same
minute):

(d) raw: 30 trivial ``sbatch --wrap`` jobs, each ``--dependency=afterok`` on the one before,
    with the resources the site gives hpcflow's jobs; timed from the first sbatch until
    ``squeue`` (polled every 0.2 s) shows the last one COMPLETED.
(e) hpcflow W2 (``bench/workloads.py``) on the slurm-test site: the steps are chained with
    ``afterok`` as soon as the first is submitted. Timed from ``wf.submit()`` until
    ``Client.wait`` (max sleep ``--interval``) returns; "end" is when the last step's exit
    record was written (what the engine's poll interval adds is the difference).
(f) the same 30 steps in ``Steps(fuse=True)``: one job runs them one after another.

Prints the medians and the ratios against (d) (targets: (e) <= 1.0, (f) <= 0.3), and the
number of sbatch calls of each run. Also reachable as ``bench/slurm.py --parts d`` (all three).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import slurm as S  # noqa: E402  (bench/slurm.py: shared helpers)

N = 30


def raw_chain(n: int = N) -> float:
    work = Path(tempfile.mkdtemp(prefix="bench-chain-", dir="/tmp"))
    common = ["--parsable", "--partition=debug", "--cpus-per-task=1", "--mem=200M",
              "--time=00:10:00", f"--chdir={work}", f"--output={work}/%j.out"]
    t0 = time.perf_counter()
    prev = None
    for i in range(n):
        dep = [f"--dependency=afterok:{prev}", "--kill-on-invalid-dep=yes"] if prev else []
        prev = S.sh("sbatch", *common, *dep, f"--job-name=raw-chain-{i}", "--wrap",
                    "python3 -c 'print(1)'").strip().split(";")[0]
    t_sub = time.perf_counter() - t0
    while True:
        state = S.sh("squeue", "--noheader", "-t", "all", "-j", prev, "-o", "%T", check=False).strip()
        if not state:
            state = S.sh("sacct", "-X", "-n", "-P", "-j", prev, "-o", "State", check=False).strip()
        if state == "COMPLETED" or state.startswith(("FAILED", "CANCELLED", "TIMEOUT")):
            break
        time.sleep(S.POLL)
    elapsed = time.perf_counter() - t0
    print(f"(d) raw afterok chain of {n}: {state} after {elapsed:.2f}s (the {n} sbatch took {t_sub:.2f}s)")
    shutil.rmtree(work, ignore_errors=True)
    if state != "COMPLETED":
        raise SystemExit("raw chain did not complete")
    return elapsed


def w2_fused():
    """W2 with its 30 steps in a ``Steps(fuse=True)``."""
    import workloads

    from hpcflow import Step, Steps, Workflow
    from hpcflow.python import PythonOPTemplate

    wf = Workflow("bench-w2f", steps=Steps("bench-w2f-steps", fuse=True))
    prev = None
    for i in range(N):
        x = 0 if prev is None else prev.outputs.parameters["y"]
        prev = Step(f"s{i}", PythonOPTemplate(workloads.inc, image="python:3.11"), parameters={"x": x})
        wf.add(prev)
    return wf, ("s29", "y", N)


def hpcflow_w2(home: Path, fused: bool, interval: float) -> tuple[float, float, dict]:
    import workloads

    from hpcflow.scheduler.slurm import backend

    client = S.fresh_client(home)
    backend.reset_command_counts()
    t0 = time.perf_counter()
    epoch0 = time.time()
    wf, (name, param, value) = w2_fused() if fused else workloads.w2()
    wf_id = S.submit_undriven(wf)
    meter = S.TickMeter(client.engine({wf_id}))
    status = client.wait(wf_id, timeout=900, interval=interval)
    elapsed = time.perf_counter() - t0
    steps = wf.query_step(name=name)
    got = steps[-1].outputs.parameters[param].value if steps else None
    attempts = client.store.attempts(wf_id)
    last = [a for a in attempts if a["node_path"] == name and a["status"] == "succeeded"]
    end = json.loads((Path(last[-1]["dir"]) / "exit.json").read_text())["finished_at"] - epoch0 if last else elapsed
    counts = dict(backend.COMMAND_COUNTS)
    info = {"ok": status == "Succeeded" and got is not None and int(got) == value,
            "sbatch": counts.get("sbatch", 0), "squeue": counts.get("squeue", 0),
            "ticks": len(meter.ticks), "jobs": len({a["job_id"] for a in attempts})}
    label = "(f) W2 fused" if fused else "(e) W2 chained"
    print(f"{label}: {status} ({'ok' if info['ok'] else 'FAILED'}, {name}.{param}={got}) seen after "
          f"{elapsed:.2f}s, last exit record at {end:.2f}s; {info['jobs']} job(s), "
          f"sbatch={info['sbatch']} squeue={info['squeue']} ticks={info['ticks']}")
    return elapsed, end, info


def run(repeats: int, interval: float) -> int:
    base = Path(tempfile.mkdtemp(prefix="bench-chain-"))
    raw, chained, chained_end, fused, fused_end = [], [], [], [], []
    ok = True
    for r in range(repeats):
        print(f"--- repeat {r + 1}/{repeats}")
        raw.append(raw_chain())
        S.wait_queue_empty()
        t, end, info = hpcflow_w2(base / f"home-e{r}", False, interval)
        chained.append(t)
        chained_end.append(end)
        ok &= info["ok"] and info["sbatch"] == N
        S.wait_queue_empty()
        t, end, info = hpcflow_w2(base / f"home-f{r}", True, interval)
        fused.append(t)
        fused_end.append(end)
        ok &= info["ok"] and info["sbatch"] == 1
        S.wait_queue_empty()
    shutil.rmtree(base, ignore_errors=True)
    med = statistics.median
    d, e, f = med(raw), med(chained), med(fused)
    print(f"\nmedians of {repeats}: raw chain {d:.2f}s; W2 chained {e:.2f}s (last exit record "
          f"{med(chained_end):.2f}s); W2 fused {f:.2f}s (last exit record {med(fused_end):.2f}s)")
    print(f"(e/d) W2 chained / raw afterok chain = {e / d:.2f} (target <= 1.0: "
          f"{'ok' if e / d <= 1.0 else 'MISSED'})")
    print(f"(f/d) W2 fused / raw afterok chain = {f / d:.2f} (target <= 0.3: "
          f"{'ok' if f / d <= 0.3 else 'MISSED'})")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--interval", type=float, default=1.0,
                    help="max sleep of Client.wait between ticks (its own default on Slurm is 10 s)")
    args = ap.parse_args(argv)
    print(f"slurm chain benchmark, {time.strftime('%Y-%m-%d %H:%M')}, site {S.SITE}")
    S.cluster_check()
    return run(args.repeats, args.interval)


if __name__ == "__main__":
    sys.exit(main())
