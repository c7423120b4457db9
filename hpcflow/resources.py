"""Parse resource requests (Kubernetes-style requests/limits or hpcflow's own) into one form."""

from __future__ import annotations

import math
import re
from typing import Any

from hpcflow.errors import SpecError

_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?)B?\s*$", re.IGNORECASE)
_FACTOR_MB = {"": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def parse_memory_mb(value: Any) -> int:
    """``"4Gi"``, ``"4G"``, ``"500M"``, ``2048`` (MB) → megabytes (rounded up)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _whole(value, "a memory size", round_up=False)
    m = _MEM.match(str(value))
    if not m or len(m.group(1)) > 30:
        raise SpecError(f"cannot parse {_short(value)} as a memory size (use e.g. '4G', '500M', '4Gi')")
    number, unit = float(m.group(1)), m.group(2).upper()
    if unit == "" and m.group(0).strip().isdigit():
        return int(number)  # a bare number means MB, as in sbatch --mem
    return max(1, _whole(number * _FACTOR_MB[unit], "a memory size"))


def parse_time_s(value: Any) -> int:
    """Slurm time formats (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) or seconds → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _whole(value, "a time limit", round_up=False)
    text = str(value).strip()
    try:
        if len(text) > 40:
            raise ValueError("too long")
        days = 0
        if "-" in text:
            d, text = text.split("-", 1)
            days = int(d)
            clock = [int(p) for p in text.split(":")]
            if len(clock) > 3:
                raise ValueError("too many fields")
            h, m, s = (clock + [0, 0])[:3]
            parts = [days * 24 + h, m, s]
        else:
            parts = [int(p) for p in text.split(":")]
            if len(parts) == 1:
                parts = [0, parts[0], 0]  # a bare number means minutes, as in sbatch --time
            elif len(parts) == 2:
                parts = [0, *parts]
        if len(parts) != 3 or min(parts) < 0:
            raise ValueError("not H:M:S")
    except ValueError:
        raise SpecError(f"cannot parse {_short(value)} as a time limit (use e.g. '01:30:00')") from None
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def _whole(number: float, what: str, round_up: bool = True) -> int:
    """A finite, non-negative number as an int (rounded up unless told otherwise)."""
    if isinstance(number, float) and not math.isfinite(number) or number < 0:
        raise SpecError(f"cannot use {_short(number)} as {what}")
    return int(-(-number // 1)) if round_up else int(number)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**40 else "a huge number"
    return text if len(text) <= 60 else text[:60] + "..."


def _cpus(value: Any) -> int:
    text = str(value).strip()
    if text.endswith("m"):  # Kubernetes millicores
        return max(1, -(-int(text[:-1]) // 1000))
    return max(1, _whole(float(text), "a CPU count"))


_GPU_KEYS = ("gpus", "gpu", "nvidia.com/gpu", "amd.com/gpu")
_KNOWN = frozenset({
    "cpu", "cpus", "cpus_per_task", "memory", "mem", "memory_mb", *_GPU_KEYS, "time", "time_limit",
    "walltime", "time_limit_s", "partition", "account", "qos", "constraint", "extra", "extra_options",
    "sbatch_options", "exclude_nodes", "exclude", "ephemeral-storage", "ephemeral_storage",
})


def normalize_resources(*sources: dict[str, Any] | None) -> dict[str, Any]:
    """Merge resource dicts (later wins) into ``cpus``, ``memory_mb``, ``gpus``, ``time_limit_s``,
    ``partition``, ``account``, ``qos``, ``constraint``, ``extra_options``."""
    out: dict[str, Any] = {}
    for src in sources:
        for key, value in (src or {}).items():
            if value is None:
                continue
            if key not in _KNOWN:
                raise SpecError(
                    f"unknown resource {key!r} (known: cpus, memory, gpus, time, partition, "
                    "account, qos, constraint, extra_options)"
                )
            try:
                field, parsed = _resource(key, value)
            except SpecError as exc:  # the parsers say why; add which request it was
                raise SpecError(f"resource {key!r}: {exc}") from None
            except (TypeError, ValueError, OverflowError):
                raise SpecError(f"resource {key!r}: cannot use {_short(value)}") from None
            if field is not None:
                out[field] = parsed
    return out


def _resource(key: str, value: Any) -> tuple[str | None, Any]:
    """One request as (normalized field, value); (None, None) for ignored keys."""
    if key in ("cpu", "cpus", "cpus_per_task"):
        return "cpus", _cpus(value)
    if key in ("memory", "mem", "memory_mb"):
        return "memory_mb", parse_memory_mb(value)
    if key in _GPU_KEYS:
        return "gpus", _whole(_count(value), "a GPU count", round_up=False)
    if key in ("time", "time_limit", "walltime"):
        return "time_limit_s", parse_time_s(value)
    if key == "time_limit_s":
        return "time_limit_s", _whole(_count(value), "a time limit", round_up=False)
    if key in ("partition", "account", "qos", "constraint"):
        return key, str(value)
    if key in ("extra", "extra_options", "sbatch_options"):
        return "extra_options", _strings(value)
    if key in ("exclude_nodes", "exclude"):
        return "exclude_nodes", _strings(value)
    return None, None  # ephemeral-storage: a Kubernetes notion with no batch-system meaning


def _count(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(value)
    return int(value) if isinstance(value, str) else value


def _strings(value: Any) -> list[str]:
    """A list of options or node names; one string is one item, not its characters."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError(value)
    return [str(v) for v in value]
