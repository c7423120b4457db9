"""Dashboard pages of a 100,000-slice workflow: time and size, through the real server.

Builds a store through the Store API (the spec compiled from a real DSL workflow: a
sliced ``screen`` step of N slices, 2 % of them failed and 1 % running, with attempts,
plus a reduce step and 30 small workflows for the list), starts ``hpcflow ui`` on its
Unix socket as a separate process, and requests each page ``--repeats`` times over the
socket. Prints p50/p95 (ms) and the size of each page. Then, with ``--ticks``, it times
``hpcflow tick`` passes of a small real workflow in the same store with and without a
client process refreshing the big workflow's pages (a request every 0.2 s, far more than
a few browser tabs refreshing every 5 s).

    python bench/ui.py [--slices 100000] [--repeats 30] [--ticks 40] [--keep DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate, Slices

BIG = "screen-100k"
#: The big workflow belongs to another site, so the local ticks below never drive it.
BIG_SITE = "bench-cluster"


@OP.function
def score(x: int) -> {"y": float}:
    return {"y": x * 0.5}


@OP.function
def best(ys: list) -> {"top": float}:
    return {"top": max(ys)}


def big_spec(n: int) -> dict[str, Any]:
    wf = Workflow("screen")
    s = Step("screen", PythonOPTemplate(score, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
             parameters={"x": list(range(n))}, key="screen-{{item}}")
    wf.add(s)
    wf.add(Step("best", PythonOPTemplate(best), parameters={"ys": s.outputs.parameters["y"]}))
    return wf.to_spec()


def phase_of(i: int) -> str:
    if i % 50 == 7:
        return "Failed"
    if i % 100 == 3:
        return "Running"
    return "Succeeded"


def build_store(home: Path, n: int, small: int = 30) -> str:
    """A store holding one ``n``-slice workflow (id ``screen-100k``) and ``small`` others."""
    from hpcflow.store import Store

    store = Store(home / "hpcflow.db")
    work = home / "work" / BIG
    now = time.time() - 3600
    store.create_workflow(BIG, "screen", big_spec(n), str(work), site={"name": BIG_SITE})
    with store.transaction():
        store.conn.execute("UPDATE workflows SET status = 'Running', created_at = ? WHERE id = ?", (now, BIG))
        store.save_node(BIG, _node("", None, BIG, "screen-steps", "Steps", "Running", now))
        store.save_node(BIG, _node("screen", "", "screen", "score-0", "FanOut", "Running", now,
                                   data={"step": ["screen-steps", "screen"]}))
        for i in range(n):
            phase = phase_of(i)
            path = f"screen({i})"
            msg = f"FatalError: slice {i} has no converged geometry" if phase == "Failed" else "attempt 1"
            store.save_node(BIG, _node(path, "screen", path, "score-0", "Pod", phase, now + i * 0.01,
                                       key=f"screen-{i}", slice_index=i, item=i, message=msg,
                                       inputs={"parameters": {"x": i}, "artifacts": {}},
                                       outputs={"parameters": {"y": i * 0.5}, "artifacts": {}} if phase == "Succeeded" else None,
                                       data={"step": ["screen-steps", "screen"], "attempt": 1,
                                             **({"last_error_kind": "fatal"} if phase == "Failed" else {})}))
            adir = work / path / "attempt-1"
            store.add_attempt(BIG, {"node_path": path, "number": 1, "dir": str(adir),
                                    "tag": f"hpcflow-{BIG}-{i // 1000}", "backend": "slurm",
                                    "job_id": f"{7000 + i // 1000}_{i % 1000}", "task_index": i % 1000,
                                    "status": {"Failed": "failed", "Running": "submitted"}.get(phase, "succeeded")})
    for i in (7, 57, 99957):  # the slices whose pages and logs the bench opens
        if i < n:
            adir = work / f"screen({i})" / "attempt-1"
            adir.mkdir(parents=True, exist_ok=True)
            (adir / "log.txt").write_text("".join(f"step {k}: energy -3.{k:04d} eV\n" for k in range(20000))
                                          + f"FatalError: slice {i} has no converged geometry\n")
            (adir / "exit.json").write_text(json.dumps({"host": "node017", "status": "failed", "kind": "fatal"}))
    for k in range(small):
        wf_id = f"small-{k:02d}"
        store.create_workflow(wf_id, f"small{k % 3}", {"templates": {}}, str(home / "work" / wf_id),
                              site={"name": BIG_SITE})
        with store.transaction():
            store.conn.execute("UPDATE workflows SET status = ? WHERE id = ?",
                               ("Failed" if k % 5 == 0 else "Succeeded", wf_id))
    store.close()
    return BIG


def _node(path: str, parent: str | None, name: str, template: str, type_: str, phase: str,
          t: float, **extra: Any) -> dict[str, Any]:
    return {"path": path, "parent": parent, "name": name, "template": template, "type": type_,
            "phase": phase, "attempts": 1 if type_ == "Pod" else 0, "created_at": t, "started_at": t,
            "finished_at": t + 5 if phase in ("Succeeded", "Failed") else None, **extra}


# ----------------------------------------------------------------------------- the server

class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the dashboard's Unix socket (what an ``ssh -L`` tunnel carries)."""

    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def start_server(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    """``hpcflow ui`` on its default socket; returns the process, the socket and the token."""
    hpcflow = shutil.which("hpcflow", path=str(Path(sys.executable).parent)) or "hpcflow"
    env = dict(os.environ, HPCFLOW_HOME=str(home))
    proc = subprocess.Popen([hpcflow, "ui"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    lines = [proc.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
    text = "".join(lines)
    token = re.search(r"token=([\w-]+)", text)
    sock = home / "ui" / "ui.sock"
    if token is None or not sock.exists():
        proc.kill()
        raise SystemExit(f"hpcflow ui did not start:\n{text}{proc.stdout.read()}")  # type: ignore[union-attr]
    return proc, str(sock), token.group(1)


def get(sock: str, token: str, url: str) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(sock)
    try:
        conn.request("GET", url, headers={"Authorization": f"Bearer {token}", "Host": "localhost:8080"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def pages(wf_id: str, n: int) -> dict[str, str]:
    last = max(0, n - 1000)
    return {
        "workflow list": "/",
        "list, Failed only": "/?status=Failed",
        "workflow (tree + SVG)": f"/wf/{wf_id}",
        "sliced step, first page": f"/wf/{wf_id}/node?path=screen",
        f"sliced step, after {last}": f"/wf/{wf_id}/node?path=screen&after={last}",
        "sliced step, failed only": f"/wf/{wf_id}/node?path=screen&phase=Failed&after={n // 2}",
        "one slice": f"/wf/{wf_id}/node?path=screen(57)",
        "log page (tail of 0.6 MB)": f"/wf/{wf_id}/log?path=screen(57)",
        "log chunk": f"/wf/{wf_id}/log/chunk?path=screen(57)&attempt=1&offset=0",
    }


def time_pages(sock: str, token: str, wf_id: str, n: int, repeats: int) -> list[tuple[str, float, float, int]]:
    results = []
    for label, url in pages(wf_id, n).items():
        status, body = get(sock, token, url)  # warm-up (spec cache, OS cache)
        if status != 200:
            raise SystemExit(f"{url}: HTTP {status}: {body[:300]!r}")
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            status, body = get(sock, token, url)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        results.append((label, statistics.median(times), p95, len(body)))
    return results


# --------------------------------------------------------------------- ticks under load

def time_ticks(home: Path, sock: str, token: str, ticks: int) -> dict[str, list[float]]:
    """``Engine.tick`` of a small local workflow, without and then with the UI refreshing."""
    os.environ["HPCFLOW_HOME"] = str(home)
    os.environ["HPCFLOW_SUBMIT_ONLY"] = "1"
    from hpcflow.client import get_client

    client = get_client()
    out: dict[str, list[float]] = {}
    for label, load in (("no UI", False), ("UI refreshing", True)):
        wf = Workflow("ticked")
        wf.add(Step("many", PythonOPTemplate(score, slices=Slices(input_parameter=["x"], output_parameter=["y"],
                                                                   group_size=25)),
                    parameters={"x": list(range(500))}))
        wf.submit()
        # The browser is another process (as it is for a user): a thread here would compete
        # with the tick for this interpreter's GIL, which no real dashboard client does.
        loader = subprocess.Popen([sys.executable, __file__, "--refresh", sock, token]) if load else None
        time.sleep(0.5 if load else 0)
        times = []
        for _ in range(ticks):
            t0 = time.perf_counter()
            client.tick_once(only={wf.id})
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)
        if loader is not None:
            loader.terminate()
            loader.wait(10)
        client.wait(wf.id, timeout=120)
        out[label] = times
    return out


def refresh_forever(sock: str, token: str, period: float = 0.2) -> None:
    """Request the big workflow's pages every ``period`` s (many tabs refreshing at once)."""
    urls = [f"/wf/{BIG}", f"/wf/{BIG}/node?path=screen", "/"]
    for k in range(int(600 / period)):  # bounded: ten minutes at most
        get(sock, token, urls[k % len(urls)])
        time.sleep(period)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--ticks", type=int, default=40, help="0 skips the tick measurement")
    parser.add_argument("--keep", type=Path, help="build the store here and keep it")
    parser.add_argument("--refresh", nargs=2, metavar=("SOCKET", "TOKEN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.refresh:
        refresh_forever(*args.refresh)
        return 0
    home = args.keep or Path(tempfile.mkdtemp(prefix="bench-ui-")) / "home"
    t0 = time.perf_counter()
    wf_id = build_store(home, args.slices)
    print(f"store with {args.slices} slices built in {time.perf_counter() - t0:.1f} s "
          f"({(home / 'hpcflow.db').stat().st_size / 1e6:.0f} MB)")
    proc, sock, token = start_server(home)
    try:
        print(f"\n| page ({args.repeats} requests each) | p50 ms | p95 ms | KB |\n|---|---|---|---|")
        for label, p50, p95, size in time_pages(sock, token, wf_id, args.slices, args.repeats):
            print(f"| {label} | {p50:.1f} | {p95:.1f} | {size / 1024:.1f} |")
        if args.ticks:
            ticks = time_ticks(home, sock, token, args.ticks)
            print("\n| tick of a 500-slice local workflow | p50 ms | p95 ms |\n|---|---|---|")
            for label, times in ticks.items():
                times.sort()
                print(f"| {label} | {statistics.median(times):.1f} | {times[int(0.95 * (len(times) - 1))]:.1f} |")
    finally:
        proc.terminate()
        proc.wait(10)
        if args.keep is None:
            shutil.rmtree(home.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
