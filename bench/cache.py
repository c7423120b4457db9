"""Result-cache benchmark: the unchanged rerun of ``examples/eos.py`` against its first run.

Both runs are ``python examples/eos.py`` subprocesses (as a user runs it) in one fresh
``HPCFLOW_HOME``, in local mode with a site file that turns the cache on for every step
(``[cache] default = true``). The second run should submit no job: every unit is a hit.

    python bench/cache.py [--points 15]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE = """name = "local-cached"
scheduler = "local"
exit_record_grace_s = 2

[cache]
default = true
"""


def timed_run(env: dict[str, str], points: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "examples" / "eos.py"), "--points", str(points)],
                   env=env, check=True, capture_output=True, text=True, timeout=1800)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        site = Path(tmp) / "site.toml"
        site.write_text(SITE)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPCFLOW_")}
        env["HPCFLOW_HOME"], env["HPCFLOW_SITE"] = str(Path(tmp) / "home"), str(site)
        first = timed_run(env, args.points)
        second = timed_run(env, args.points)
        db = sqlite3.connect(Path(tmp) / "home" / "hpcflow.db")
        ids = [r[0] for r in db.execute("SELECT id FROM workflows ORDER BY created_at")]
        attempts = [db.execute("SELECT COUNT(*) FROM attempts WHERE workflow_id = ?", (i,)).fetchone()[0]
                    for i in ids]
    print(f"eos.py --points {args.points}, local mode, cache on for every step")
    print(f"first run      {first:7.2f} s  ({attempts[0]} jobs)")
    print(f"unchanged rerun {second:6.2f} s  ({attempts[1]} jobs)")
    print(f"rerun / first  {second / first:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
