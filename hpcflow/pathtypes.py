"""Is this value, or this annotation, a ``pathlib`` path? Answered without importing pathlib.

Every array task decodes its parameters and checks its OP's signature; importing pathlib
for the checks would cost each task ~3.5 ms of CPU (it imports ``urllib.parse`` and
``ipaddress``). If no module has imported pathlib, no value can be a path and no signature
can name ``Path``: an OP that declares ``Artifact(Path)`` imported it itself.
"""

from __future__ import annotations

import sys
from typing import Any


def is_path(value: Any) -> bool:
    """Whether ``value`` is a ``pathlib.PurePath`` (``Path`` included)."""
    pathlib = sys.modules.get("pathlib")
    return pathlib is not None and isinstance(value, pathlib.PurePath)


def is_path_type(tp: Any) -> bool:
    """Whether the annotation ``tp`` is ``pathlib.Path``."""
    pathlib = sys.modules.get("pathlib")
    return pathlib is not None and tp is pathlib.Path
