"""Run a shell or Python script step's unit: its inputs linked in, declared absolute paths
relocated under the work directory, its outputs read from the files it wrote.

Only script units import this module (and ``pathlib``); a function OP's unit never does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hpcflow.runtime.execute import OutputError, StepTimeout
from hpcflow.spec.model import TaskRecord


def run_script(task: TaskRecord, work_dir: str) -> dict[str, Any]:
    """Run the unit's script in ``work_dir``; its outputs as the exit record holds them."""
    from hpcflow import codec
    from hpcflow.spec.evaluate import to_text

    work = Path(work_dir)
    tmpl = task.template
    script = tmpl.script or ""
    params = {k: codec.decode(v) for k, v in task.parameters.items()}
    for key, value in params.items():
        script = script.replace("{{inputs.parameters." + key + "}}", to_text(value))
    relocations: dict[str, Path] = {}
    for key, decl in tmpl.inputs.artifacts.items():
        value = task.artifacts.get(key)
        target = _local_path(decl.path or key, work, relocations)
        if value is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            _link(value, target)
    out_paths = {}
    for key, out in tmpl.outputs.parameters.items():
        if out.value_from_path:
            out_paths[key] = _local_path(out.value_from_path, work, relocations)
    art_paths = {}
    for key, art in tmpl.outputs.artifacts.items():
        art_paths[key] = _local_path(art.path or key, work, relocations)
    script = _relocate(script, relocations)
    for p in list(out_paths.values()) + list(art_paths.values()):
        p.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".py" if tmpl.kind == "script" else ".sh"
    script_file = work.parent / f"script{suffix}"
    script_file.write_text(script, encoding="utf-8")
    env = dict(os.environ)
    env.update(tmpl.envs)
    for key, value in params.items():
        env[f"HPCFLOW_INPUT_{key}"] = to_text(value)
    argv = list(tmpl.command or (["python3"] if suffix == ".py" else ["sh"])) + [str(script_file)]
    import subprocess

    try:
        proc = subprocess.run(argv, cwd=work, env=env, timeout=tmpl.timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StepTimeout(f"the script exceeded its timeout of {tmpl.timeout:g} s") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"script exited with code {proc.returncode} ({' '.join(argv[:-1])})")
    outputs: dict[str, Any] = {"parameters": {}, "artifacts": {}}
    for key, path in out_paths.items():
        if not path.exists():
            raise OutputError(f"output parameter {key!r}: the script did not write {path}")
        outputs["parameters"][key] = path.read_text(encoding="utf-8").strip()
    for key, path in art_paths.items():
        if not path.exists():
            if tmpl.outputs.artifacts[key].optional:
                continue
            raise OutputError(f"output artifact {key!r}: the script did not create {path}")
        outputs["artifacts"][key] = str(path)
    return outputs


def _relocate(script: str, relocations: dict[str, Path]) -> str:
    """Rewrite declared absolute paths in one pass (longest first, whole path components
    only), so a rewritten path is never rewritten again and ``/tmp/in`` leaves ``/tmp/input``."""
    if not relocations:
        return script
    import re

    originals = sorted(relocations, key=len, reverse=True)
    alternatives = "|".join(re.escape(o) for o in originals)
    pattern = re.compile(r"(?<![\w/.-])(" + alternatives + r")(?=$|[/\s'\";|&)<>:,])")
    return pattern.sub(lambda m: str(relocations[m.group(1)]), script)


def _local_path(declared: str, work: Path, relocations: dict[str, Path]) -> Path:
    """Absolute paths in a script are relocated under the work directory, so parallel steps
    never collide on ``/tmp/x``; the script text is rewritten to match (as Dflow's debug mode)."""
    if os.path.isabs(declared):
        local = work / declared.lstrip("/")
        relocations[declared] = local
        return local
    return work / declared


def _link(value: Any, target: Path) -> None:
    if isinstance(value, list):
        target.mkdir(parents=True, exist_ok=True)
        for i, v in enumerate(value):
            _link(v, target / f"{i}_{Path(v).name}")
        return
    if isinstance(value, dict):
        target.mkdir(parents=True, exist_ok=True)
        for k, v in value.items():
            _link(v, target / k)
        return
    if target.exists() or target.is_symlink():
        target.unlink()
    target.symlink_to(Path(value))
