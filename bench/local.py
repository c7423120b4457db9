"""Local-mode benchmark: W1, W2, W3 on hpcflow local mode and on Dflow's debug mode.

Each run is a fresh subprocess of ``bench/workloads.py`` in a fresh temporary directory (with
a fresh ``HPCFLOW_HOME``); the reported time is the one the workload prints (submit until the
final status, in-process), the median over ``--repeats`` runs.

    python bench/local.py [--repeats 3] [--dflow-python /tmp/dflow-venv/bin/python]
                          [--require-baseline] [--workloads W1,W2,W3] [--no-compile]

Before timing, hpcflow's modules are compiled to bytecode (``compileall``), as ``pip install``
does for a regular install and did for Dflow's: an editable install run with
``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every module from source in every
process (the driver, the fork server, each job). ``--no-compile`` skips it.

Dflow's debug mode needs ``pydflow`` in its own venv:
``python3 -m venv /tmp/dflow-venv && /tmp/dflow-venv/bin/pip install pydflow``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads.py"
#: OP executions per workload (W1: 200 slices + reduce; W2: 30 steps; W3: 10 loop iterations).
STEPS = {"W1": 201, "W2": 30, "W3": 10}
DEFAULT_DFLOW_PYTHON = "/tmp/dflow-venv/bin/python"


def run_once(workload: str, engine: str, python: str, timeout: float) -> tuple[float | None, str]:
    """One fresh subprocess in a fresh temp dir; (seconds or None, RESULT line or error)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{workload}-{engine}-") as tmp:
        env = dict(os.environ)
        env["BENCH_ENGINE"] = engine
        env["HPCFLOW_HOME"] = str(Path(tmp) / "hpcflow-home")
        env.pop("HPCFLOW_SITE", None)  # local mode
        env.pop("HPCFLOW_SUBMIT_ONLY", None)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([python, str(WORKLOADS), workload], cwd=tmp, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout:.0f}s"
        wall = time.perf_counter() - t0
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            tail = (proc.stderr.strip().splitlines() or ["<no output>"])[-1]
            return None, f"no RESULT (rc={proc.returncode}): {tail}"
        parts = lines[-1].split()
        if len(parts) < 5 or parts[4] != "ok":
            return None, lines[-1]
        return float(parts[3]), f"{lines[-1]} (process wall {wall:.2f}s)"


FAILURES: dict[tuple[str, str], int] = {}


def measure(workload: str, engine: str, python: str, repeats: int, timeout: float,
            verbose: bool) -> float | None:
    """Median of the successful runs (failed runs are reported and counted, not timed)."""
    times = []
    for i in range(repeats):
        seconds, line = run_once(workload, engine, python, timeout)
        if verbose:
            print(f"  [{workload} {engine} #{i + 1}] {line}", flush=True)
        if seconds is None:
            FAILURES[(workload, engine)] = FAILURES.get((workload, engine), 0) + 1
        else:
            times.append(seconds)
    return statistics.median(times) if times else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dflow-python", default=os.environ.get("DFLOW_PYTHON", DEFAULT_DFLOW_PYTHON),
                    help="a Python with pydflow installed (default %(default)s)")
    ap.add_argument("--require-baseline", action="store_true",
                    help="fail (exit 2) if the Dflow baseline cannot run")
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not compile hpcflow's modules to bytecode before timing")
    args = ap.parse_args(argv)
    bytecode = "as found"
    if not args.no_compile:
        import hpcflow

        package = Path(hpcflow.__file__).resolve().parent
        bytecode = "compiled" if compileall.compile_dir(package, quiet=1) else "compile FAILED"
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]

    have_dflow = Path(args.dflow_python).exists() and subprocess.run(
        [args.dflow_python, "-c", "import dflow"], capture_output=True).returncode == 0
    if not have_dflow:
        msg = (f"Dflow baseline unavailable: {args.dflow_python} missing or cannot import dflow "
               "(create it with: python3 -m venv /tmp/dflow-venv && "
               "/tmp/dflow-venv/bin/pip install pydflow)")
        if args.require_baseline:
            print("ERROR: " + msg, file=sys.stderr)
            return 2
        print("NOTE: " + msg + "; printing hpcflow numbers only.")

    print(f"local benchmark: {args.repeats} repeat(s), median; {os.cpu_count()} cores; "
          f"hpcflow python {sys.executable} (bytecode {bytecode}; PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})"
          + (f"; dflow python {args.dflow_python}" if have_dflow else ""),
          flush=True)
    rows = []
    failed = False
    for w in workloads:
        # One workload at a time, engines one after the other (the machine may have 2 cores).
        d = measure(w, "dflow", args.dflow_python, args.repeats, args.timeout, not args.quiet) \
            if have_dflow else None
        h = measure(w, "hpcflow", sys.executable, args.repeats, args.timeout, not args.quiet)
        failed |= h is None or (have_dflow and d is None)
        rows.append((w, d, h))

    def fmt(x: float | None, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    print()
    header = f"{'workload':<9}{'steps':>6}{'dflow-debug s':>15}{'hpcflow s':>11}{'speed-up':>10}{'hpcflow s/step':>16}"
    print(header)
    print("-" * len(header))
    for w, d, h in rows:
        ratio = d / h if d is not None and h else None
        per = h / STEPS[w] if h is not None else None
        print(f"{w:<9}{STEPS[w]:>6}{fmt(d):>15}{fmt(h):>11}{fmt(ratio, '.1f') + ('x' if ratio else ''):>10}"
              f"{fmt(per, '.4f'):>16}")
    for (w, engine), n in sorted(FAILURES.items()):
        print(f"note: {n} of {args.repeats} {w} run(s) on {engine} FAILED (median over the others)")
    if failed or any(e == "hpcflow" for _, e in FAILURES):
        print("\nsome workloads FAILED on every run (see the lines above)" if failed else
              "\nsome hpcflow runs FAILED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
