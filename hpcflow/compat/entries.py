"""What a Dflow name maps to when hpcflow has no object of its own for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ARGO = "needs Argo Workflows"
K8S = "needs Kubernetes"
BOHRIUM = "needs the Bohrium platform"
ARGO_STORE = "works on Argo's artifact repository (MinIO/S3 keys and catalogs)"
DFLOW_INTERNAL = "is part of Dflow's own engine (Argo pods and debug mode)"
SSH = "runs outside any batch system over SSH (hpcflow sends steps to a cluster's Slurm over SSH)"


@dataclass(frozen=True)
class Unsupported:
    """A table entry: the name exists, but using it raises NotSupported."""

    why: str
    instead: str
    kind: str = "class"  # "class" or "function"


@dataclass(frozen=True)
class Value:
    """A plain value made once, on first use (a settings dict, a module constant)."""

    make: Callable[[], Any]
