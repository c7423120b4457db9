"""Every OP of the chaos workflows appends a line to a marker file when it starts and when it
ends (O_APPEND, fsync'd), so a test can count how often each unit really ran.

``MARK_SOURCE`` goes into the generated workflow scripts: their OPs live in ``__main__`` and
travel to the job by cloudpickle, so the job needs nothing from the test's own modules. A
line names the attempt directory it ran in; the store maps that back to the unit.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARK_SOURCE = '''
def mark(marker, event):
    """Append one line to the marker file: the attempt directory and the process."""
    import json
    import os
    from pathlib import Path

    line = json.dumps({"event": event, "attempt": str(Path.cwd().parent), "pid": os.getpid(),
                       "job": os.environ.get("SLURM_JOB_ID")}) + "\\n"
    fd = os.open(marker, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
'''


def read_marks(marker: Path) -> list[dict[str, Any]]:
    if not marker.exists():
        return []
    return [json.loads(line) for line in marker.read_text().splitlines() if line.strip()]


@dataclass
class Tally:
    """How often each unit (``workflow:node path``) started and ran to its end."""

    units: set[str]
    starts: Counter[str] = field(default_factory=Counter)
    ends: Counter[str] = field(default_factory=Counter)
    #: Attempts of a unit that really failed (its node died, its OP raised, its exit record
    #: was destroyed) and were retried: each allows one more execution.
    retried: Counter[str] = field(default_factory=Counter)
    #: Marker lines from attempt directories the store does not know.
    strays: list[str] = field(default_factory=list)

    @property
    def lost(self) -> list[str]:
        """Units that never ran to their end."""
        return sorted(u for u in self.units if self.ends[u] == 0)

    @property
    def duplicates(self) -> int:
        """Executions beyond one per unit (and one per real failure that was retried)."""
        extra = sum(max(0, self.starts[u] - 1 - self.retried[u]) for u in self.units)
        extra += sum(max(0, self.ends[u] - 1 - self.retried[u]) for u in self.units)
        return extra + len(self.strays)

    def describe(self) -> str:
        dup = {u: (self.starts[u], self.ends[u], self.retried[u]) for u in sorted(self.units)
               if max(self.starts[u], self.ends[u]) - self.retried[u] > 1}
        return (f"{len(self.units)} units; lost {self.lost}; (starts, ends, retried) of "
                f"duplicated units {dup}; stray lines {self.strays}")


def tally(marker: Path, store: Any, wf_ids: list[str]) -> Tally:
    """Count the marker lines of every unit (Pod node) of ``wf_ids``."""
    units: set[str] = set()
    unit_of_dir: dict[str, str] = {}
    retried: Counter[str] = Counter()
    for wf_id in wf_ids:
        units |= {f"{wf_id}:{n['path']}" for n in store.load_nodes(wf_id)
                  if n["type"] == "Pod" and n["phase"] != "Skipped"}
        for att in store.attempts(wf_id):
            unit = f"{wf_id}:{att['node_path']}"
            unit_of_dir[str(Path(att["dir"]).resolve())] = unit
            if att["status"] == "failed":
                retried[unit] += 1
    result = Tally(units, retried=retried)
    for m in read_marks(marker):
        unit = unit_of_dir.get(str(Path(m["attempt"]).resolve()))
        if unit is None:
            result.strays.append(m["attempt"])
            continue
        (result.starts if m["event"] == "start" else result.ends)[unit] += 1
    return result
