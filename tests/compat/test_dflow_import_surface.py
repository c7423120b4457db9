"""Every public name of pydflow resolves at Dflow's module path through the ``dflow`` alias.

The names are read from the downloaded sdist with ``ast`` (pydflow is never imported): each
module, each top-level class and function, and each package's ``__all__``. Each name is
either hpcflow's implementation or a placeholder that raises NotSupported, naming the hpcflow
alternative, when it is used.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat import pydflow_sdist
from tests.compat.scripts import alias_env, hpcflow_exec

#: Parts of the sdist that are not Dflow's API.
NOT_API = {
    "dflow.python.vendor": "a vendored copy of typeguard, not Dflow's API",
    "dflow.__main__": "`python -m dflow`, the command-line client of an Argo server (use the hpcflow command)",
}


def public_names(src: Path) -> dict[str, list[str]]:
    """Module → public names (classes, functions, ``__all__``) of the sdist's ``src/dflow``."""
    out: dict[str, list[str]] = {}
    for path in sorted((src / "dflow").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join(parts)
        if any(module == n or module.startswith(n + ".") for n in NOT_API):
            continue
        names: list[str] = []
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names.append(node.name)
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                names += [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
        out[module] = sorted({n for n in names if not n.startswith("_")})
    return out


@pytest.fixture
def alias(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from hpcflow.compat import alias as alias_module

    monkeypatch.setenv("PYTHONPATH", "")
    alias_module.install()
    yield
    alias_module.uninstall()


def test_every_public_name_of_pydflow_resolves(alias: None) -> None:
    from hpcflow.compat.unsupported import is_placeholder
    from hpcflow.errors import NotSupported

    surface = public_names(pydflow_sdist.fetch_or_skip() / "src")
    implemented, unsupported, problems = [], [], []
    for module, names in surface.items():
        mod = importlib.import_module(module)
        assert mod.__name__ == module
        for name in names:
            qualname = f"{module}.{name}"
            try:
                obj = getattr(mod, name)
            except AttributeError as exc:
                problems.append(f"{qualname}: {exc}")
                continue
            if not is_placeholder(obj):
                implemented.append(qualname)
                continue
            with pytest.raises(NotSupported) as info:
                obj()
            text = str(info.value)
            if f".{name} is not supported by hpcflow: it " not in text or ". Use " not in text:
                problems.append(f"{qualname}: unclear NotSupported message {text!r}")
            unsupported.append(qualname)
    assert not problems, "\n".join(problems)
    total = sum(len(n) for n in surface.values())
    print(f"\npydflow {pydflow_sdist.PYDFLOW}: {len(surface)} modules, {total} public names: "
          f"{len(implemented)} implemented, {len(unsupported)} NotSupported")
    assert len(implemented) + len(unsupported) == total
    assert len(surface) >= 40 and total >= 250  # the sdist was really read


def test_names_real_projects_import_are_hpcflow_objects(alias: None) -> None:
    import dflow  # type: ignore[import-not-found]
    import dflow.config  # type: ignore[import-not-found]
    from dflow.python import opio  # type: ignore[import-not-found]
    from dflow.utils import flatten, run_command, set_directory  # type: ignore[import-not-found]

    import hpcflow
    import hpcflow.python

    for name in ("Workflow", "Step", "Steps", "DAG", "Task", "InputParameter", "OutputArtifact",
                 "argo_range", "argo_len", "argo_sequence", "upload_artifact", "download_artifact",
                 "if_expression", "ShellOPTemplate", "S3Artifact"):
        assert getattr(dflow, name) is getattr(hpcflow, name), name
    for name in ("OP", "OPIO", "OPIOSign", "Artifact", "Parameter", "BigParameter", "Slices",
                 "PythonOPTemplate", "TransientError", "FatalError", "NestedDict", "upload_packages"):
        assert getattr(dflow.python, name) is getattr(hpcflow.python, name), name
    assert dflow.config.config is hpcflow.config and dflow.config.s3_config is hpcflow.s3_config
    dflow.config.config["mode"] = "debug"
    try:
        assert hpcflow.config["mode"] == "debug"
    finally:
        dflow.config.config["mode"] = "default"
    assert dflow.ArgoStep is hpcflow.dsl.query.StepInfo and dflow.OPTemplate is hpcflow.dsl.templates.OPTemplate
    assert opio.HDF5Dataset is hpcflow.python.opio.HDF5Dataset
    assert flatten({"a": {"b": [1, 2]}}) == {"a.b.0": 1, "a.b.1": 2}
    code, out, err = run_command(["sh", "-c", "echo out; echo err >&2"])
    assert (code, out, err) == (0, "out\n", "err\n")
    with pytest.raises(AssertionError, match="failed"):
        run_command(["false"])
    assert run_command("false", raise_error=False)[0] == 1
    here = Path.cwd()
    with set_directory(here / "dflow-set-directory-test", mkdir=True) as path:
        assert Path.cwd() == path
    assert Path.cwd() == here
    path.rmdir()


def test_unknown_dflow_module_names_itself(alias: None) -> None:
    with pytest.raises(ModuleNotFoundError, match=r"'dflow.nosuch'.*not supported by hpcflow") as info:
        importlib.import_module("dflow.nosuch")
    assert info.value.name == "dflow.nosuch"


def test_alias_reaches_child_processes_and_says_which_dflow(tmp_path: Path) -> None:
    """A fake pydflow installation (its dist-info on PYTHONPATH) is reported, not used."""
    site = tmp_path / "site"
    dist = site / "pydflow-1.8.134.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pydflow\nVersion: 1.8.134\n")
    env = alias_env(tmp_path / "home")
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{site}"
    child = "import dflow.python as p; print('CHILD', p.OP.__module__)"
    parent = ("import subprocess, sys; import dflow; print('PARENT', dflow.Workflow.__module__); "
              f"subprocess.run([sys.executable, '-c', {child!r}], check=True)")
    proc = hpcflow_exec([sys.executable, "-c", parent], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert "PARENT hpcflow.dsl.workflow" in proc.stdout and "CHILD hpcflow.python.op" in proc.stdout
    assert proc.stderr.count("pydflow 1.8.134 is installed but not used") == 1, proc.stderr  # once, not per child


def test_without_the_alias_dflow_is_not_hpcflow(tmp_path: Path) -> None:
    env = alias_env(tmp_path / "home")
    proc = subprocess.run([sys.executable, "-c", "import dflow"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "No module named 'dflow'" in proc.stderr


def test_exec_env_enables_the_alias_for_a_shell_session(tmp_path: Path) -> None:
    from tests.compat.scripts import HPCFLOW

    env = alias_env(tmp_path / "home")
    script = f'eval "$({HPCFLOW} exec --env)"; {sys.executable} -c "import dflow; print(dflow.Steps.__module__)"'
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "hpcflow.dsl.containers" in proc.stdout, proc.stderr
    bare = subprocess.run([str(HPCFLOW), "exec"], env=env, capture_output=True, text=True)
    assert bare.returncode == 2 and "give a command to run" in bare.stderr
