"""Wrap a job's runtime command in the step's container image (site's runtime and binds).

Inside the image the runtime runs with the image's own ``python3``. hpcflow (and the small
pure-Python packages a job needs to load shipped OPs: cloudpickle, jsonpickle) is copied
once per version to ``<work_root>/.hpcflow-lib/<fingerprint>`` and bound read-only, so no
image needs rebuilding; a step's ``python_packages`` are bound beside it. The work root is
bound at the same path, so every path in a task file is valid inside the container.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import cast

from hpcflow.containers import Bind, ContainerRun, get_runtime
from hpcflow.containers.pythonpath import python_path_binds
from hpcflow.engine.job_env import LaunchRecord
from hpcflow.engine.settings import EngineSettings
from hpcflow.errors import ContainerError
from hpcflow.spec.model import OPTemplateSpec

LIB_DIR = ".hpcflow-lib"
_SHIPPED = ("hpcflow", "cloudpickle", "jsonpickle")


def wrap_in_container(settings: EngineSettings, tmpl: OPTemplateSpec, argv: list[str],
                      launch: LaunchRecord | None = None) -> list[str]:
    c = settings.containers
    runtime = get_runtime(c.runtime, c.executable, c.options)
    image = tmpl.image or ""
    problem = runtime.image_problem(image)
    if problem:
        raise ContainerError(f"step image {image!r} for {c.runtime}: {problem}")
    lib = shipped_library(Path(settings.work_root))
    packages = [Path(p) for p in tmpl.python_packages]
    roots = [Path(p) for p in launch.python_path] if launch is not None else []
    binds, pythonpath = python_path_binds(packages, lib, roots)
    work_root = str(Path(settings.work_root).resolve())
    binds.append(Bind(work_root))
    binds.extend(Bind.parse(b) for b in c.binds)
    inner = ["python3", *argv[1:]]  # the image's interpreter runs the same runtime command
    env = {"PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1", "HOME": "/tmp",
           "USER": settings.user or "hpcflow"}
    if launch is not None and launch.dflow_alias:
        env["HPCFLOW_DFLOW_ALIAS"] = "1"
    from hpcflow.resources import normalize_resources

    gpus = normalize_resources(settings.default_resources, dict(tmpl.resources)).get("gpus")
    gpu = c.gpu if gpus else None
    return runtime.command(ContainerRun(image=image, argv=inner, binds=binds, env=env,
                                        workdir=None, gpu=gpu))


@lru_cache(maxsize=8)
def shipped_library(work_root: Path) -> Path:
    """A copy of hpcflow and its pure-Python helpers on the shared filesystem."""
    sources = {name: _package_dir(name) for name in _SHIPPED}
    digest = hashlib.sha256()
    for _name, src in sorted(sources.items()):
        for path in sorted(src.rglob("*.py")):
            digest.update(str(path.relative_to(src.parent)).encode())
            digest.update(path.read_bytes())
    target = work_root / LIB_DIR / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=target.parent))
    for name, src in sources.items():
        shutil.copytree(src, tmp / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    try:
        os.rename(tmp, target)
    except OSError:  # another process published the same version first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _package_dir(name: str) -> Path:
    import importlib

    module = importlib.import_module(name)
    return Path(cast(str, module.__file__)).resolve().parent  # a package: it has a file
