"""The chaos suite's seed and its numbers, printed at the end of the pytest run.

A failure is replayed with ``HPCFLOW_CHAOS_SEED=<seed> pytest tests/chaos``: each test draws
its random moments from ``random.Random(f"{seed}:{test name}")``.
"""

from __future__ import annotations

import os
import random
import secrets

SEED = int(os.environ.get("HPCFLOW_CHAOS_SEED") or secrets.randbelow(2**31))

#: One line per scenario, in the order the tests ran.
LINES: list[str] = []

#: Totals over the suite.
TOTALS: dict[str, int] = {"daemon_kills": 0, "units": 0, "lost": 0, "duplicates": 0}


def rng_for(test_name: str) -> random.Random:
    return random.Random(f"{SEED}:{test_name}")


def record(scenario: str, outcome: str, units: int = 0, lost: int = 0, duplicates: int = 0,
           kills: int = 0, note: str = "") -> None:
    """Note a scenario's outcome for the closing summary (call it before asserting)."""
    TOTALS["daemon_kills"] += kills
    TOTALS["units"] += units
    TOTALS["lost"] += lost
    TOTALS["duplicates"] += duplicates
    counts = f"units {units}, lost {lost}, duplicates {duplicates}" if units else ""
    kill_text = f"daemon kill -9 x{kills}" if kills else ""
    details = "; ".join(x for x in (kill_text, counts, note) if x)
    LINES.append(f"{scenario}: {outcome}" + (f" ({details})" if details else ""))


def summary() -> list[str]:
    head = (f"chaos seed {SEED} (replay: HPCFLOW_CHAOS_SEED={SEED}); daemon kill -9: "
            f"{TOTALS['daemon_kills']}; units checked: {TOTALS['units']}; lost: {TOTALS['lost']}; "
            f"duplicates: {TOTALS['duplicates']}")
    return [head, *LINES]
