"""Parse resource requests (Kubernetes-style requests/limits or hpcflow's own) into one form."""

from __future__ import annotations

import re
from typing import Any

from hpcflow.errors import SpecError

_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?)B?\s*$", re.IGNORECASE)
_FACTOR_MB = {"": 1 / (1024 * 1024), "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def parse_memory_mb(value: Any) -> int:
    """``"4Gi"``, ``"4G"``, ``"500M"``, ``2048`` (MB) → megabytes (rounded up)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    m = _MEM.match(str(value))
    if not m:
        raise SpecError(f"cannot parse {value!r} as a memory size (use e.g. '4G', '500M', '4Gi')")
    number, unit = float(m.group(1)), m.group(2).upper()
    if unit == "" and m.group(0).strip().isdigit():
        return int(number)  # a bare number means MB, as in sbatch --mem
    return max(1, int(-(-number * _FACTOR_MB[unit] // 1)))


def parse_time_s(value: Any) -> int:
    """Slurm time formats (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) or seconds → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
        parts = [int(p) for p in text.split(":")] + [0, 0]
        h, m, s = parts[:3]
        return days * 86400 + h * 3600 + m * 60 + s
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError as exc:
        raise SpecError(f"cannot parse {value!r} as a time limit (use e.g. '01:30:00')") from exc
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    if len(parts) == 3:
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    raise SpecError(f"cannot parse {value!r} as a time limit")


def _cpus(value: Any) -> int:
    text = str(value).strip()
    if text.endswith("m"):  # Kubernetes millicores
        return max(1, -(-int(text[:-1]) // 1000))
    return max(1, int(-(-float(text) // 1)))


_GPU_KEYS = ("gpus", "gpu", "nvidia.com/gpu", "amd.com/gpu")


def normalize_resources(*sources: dict[str, Any] | None) -> dict[str, Any]:
    """Merge resource dicts (later wins) into ``cpus``, ``memory_mb``, ``gpus``, ``time_limit_s``,
    ``partition``, ``account``, ``qos``, ``constraint``, ``extra_options``."""
    out: dict[str, Any] = {}
    for src in sources:
        for key, value in (src or {}).items():
            if value is None:
                continue
            if key in ("cpu", "cpus", "cpus_per_task"):
                out["cpus"] = _cpus(value)
            elif key in ("memory", "mem", "memory_mb"):
                out["memory_mb"] = parse_memory_mb(value)
            elif key in _GPU_KEYS:
                out["gpus"] = int(value)
            elif key in ("time", "time_limit", "walltime"):
                out["time_limit_s"] = parse_time_s(value)
            elif key == "time_limit_s":
                out["time_limit_s"] = int(value)
            elif key in ("partition", "account", "qos", "constraint"):
                out[key] = str(value)
            elif key in ("extra", "extra_options", "sbatch_options"):
                out["extra_options"] = [str(v) for v in value]
            elif key in ("exclude_nodes", "exclude"):
                out["exclude_nodes"] = [str(v) for v in value]
            elif key in ("ephemeral-storage", "ephemeral_storage"):
                continue  # a Kubernetes notion with no batch-system meaning
            else:
                raise SpecError(
                    f"unknown resource {key!r} (known: cpus, memory, gpus, time, partition, "
                    "account, qos, constraint, extra_options)"
                )
    return out
