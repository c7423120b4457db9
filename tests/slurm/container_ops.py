"""OPs that run inside the container test image: stdlib and hpcflow only (the image has no
pytest), shipped into the image with ``python_packages``."""

from __future__ import annotations

import sys
from pathlib import Path

from hpcflow.python import OP, Artifact


@OP.function
def inside(f: Artifact(Path), n: int) -> {"marker": str, "python": str, "text": str, "out": Artifact(Path)}:
    marker = Path("/etc/hpcflow-test-image").read_text().strip()
    text = Path(f).read_text()
    Path("result.txt").write_text(text.upper() * n)
    return {"marker": marker, "python": sys.executable, "text": text, "out": Path("result.txt")}
