"""The README's commands and example, run the way a new user runs them.

* the example workflow, saved as a script and run with ``python scan.py``;
* a bare install (``pip install .`` into a fresh venv, no extras): the installed
  ``hpcflow`` command and the example, so a dependency that only the test extras bring
  in can never hide again;
* the "Try it" command line itself, as written (root without sudo here, as in CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def readme_example() -> str:
    return re.search(r"## A workflow\n\n```python\n(.*?)```", README, re.S).group(1)


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCFLOW_") and k != "PYTHONPATH"}
    env["HPCFLOW_HOME"] = str(home)
    return env


def run_example(python: str, tmp_path: Path) -> None:
    script = tmp_path / "scan.py"
    script.write_text(readme_example())
    proc = subprocess.run([python, str(script)], capture_output=True, text=True, cwd=tmp_path,
                          env=clean_env(tmp_path / "home"), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, best = proc.stdout.split()
    assert status == "Succeeded"
    assert abs(float(best) - 2 ** (1 / 6)) < 0.05  # the Lennard-Jones minimum


def copy_checkout(dest: Path) -> Path:
    """The repository's files as a fresh clone has them (no venv, no build leftovers)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_readme_example_runs_as_a_script(tmp_path: Path):
    run_example(sys.executable, tmp_path)


def test_bare_install_has_a_working_cli_and_runs_the_example(tmp_path: Path):
    checkout = copy_checkout(tmp_path / "checkout")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(checkout)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    cli = str(venv / "bin" / "hpcflow")
    env = clean_env(tmp_path / "home")
    help_ = subprocess.run([cli, "--help"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert help_.returncode == 0, help_.stderr
    assert "submit" in help_.stdout and "daemon" in help_.stdout
    usage = subprocess.run([cli, "show"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert usage.returncode == 2 and "Usage" in usage.stderr and "Traceback" not in usage.stderr
    run_example(str(venv / "bin" / "python"), tmp_path)


@pytest.mark.skipif(os.geteuid() != 0 and shutil.which("sudo") is None,
                    reason="the README's install line needs root or sudo (apt-get)")
def test_try_it_command_line_works_as_written(tmp_path: Path):
    block = re.search(r"## Try it \(fresh Debian 12\).*?```bash\n(.*?)```", README, re.S).group(1)
    checkout = copy_checkout(tmp_path / "checkout")
    env = clean_env(tmp_path / "home")
    env["DEBIAN_FRONTEND"] = "noninteractive"
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "Succeeded" in proc.stdout and "bulk modulus" in proc.stdout, proc.stdout[-2000:]
    cli = subprocess.run([str(checkout / ".venv" / "bin" / "hpcflow"), "--help"], capture_output=True,
                         text=True, env=env)
    assert cli.returncode == 0, cli.stderr
