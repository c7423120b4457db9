"""How values look on the dashboard: times, durations, progress, bounded previews.

Parameter values are shown as stored (codec-encoded JSON); the dashboard never
unpickles a user's class. Every preview is bounded, so a 100,000-element output costs a
few hundred bytes of page.
"""

from __future__ import annotations

import json
import time
from typing import Any

#: Phases in the order the dashboard counts them.
PHASES = ("Succeeded", "Running", "Pending", "Failed", "Skipped", "Omitted")
#: Workflow statuses the list filters by.
STATUSES = ("Pending", "Running", "Succeeded", "Failed")
ACTIVE = ("Pending", "Running")


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def duration(start: float | None, end: float | None, now: float | None = None) -> str:
    """``12.3s``, ``4.5m``, ``2.1h``: how long from ``start`` to ``end`` (or until now)."""
    if start is None:
        return ""
    seconds = max(0.0, (end or now or time.time()) - start)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def progress(counts: dict[str, int]) -> dict[str, int]:
    """Units done / running / failed / pending (skipped and omitted ones count as done)."""
    return {
        "done": counts.get("Succeeded", 0) + counts.get("Skipped", 0) + counts.get("Omitted", 0),
        "running": counts.get("Running", 0),
        "failed": counts.get("Failed", 0),
        "pending": counts.get("Pending", 0),
        "total": sum(counts.values()),
    }


def bar_segments(counts: dict[str, int], width: float = 120.0) -> list[dict[str, Any]]:
    """Widths of a stacked progress bar (drawn as SVG rects: no inline styles under the CSP)."""
    prog = progress(counts)
    total = prog["total"] or 1
    x, out = 0.0, []
    for part in ("done", "running", "failed", "pending"):
        w = width * prog[part] / total
        if w > 0:
            out.append({"part": part, "x": round(x, 2), "w": round(w, 2), "n": prog[part]})
            x += w
    return out


def preview(value: Any, limit: int = 600) -> str:
    """Compact JSON of ``value``, cut at ``limit`` characters; long lists are elided first."""
    text = json.dumps(_elide(value, 30), ensure_ascii=False, default=str)
    if len(text) > limit:
        text = text[:limit] + " …"
    return text


def _elide(value: Any, keep: int) -> Any:
    if isinstance(value, list):
        if len(value) > keep:
            return [_elide(v, keep) for v in value[:keep]] + [f"… {len(value) - keep} more"]
        return [_elide(v, keep) for v in value]
    if isinstance(value, dict):
        items = list(value.items())
        shown = {k: _elide(v, keep) for k, v in items[:keep]}
        if len(items) > keep:
            shown["…"] = f"{len(items) - keep} more keys"
        return shown
    if isinstance(value, str) and len(value) > 300:
        return value[:300] + "…"
    return value


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def short(text: str | None, limit: int = 160) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
