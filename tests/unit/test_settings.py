"""Configuration is resolved once, in hpcflow.settings: flags > environment > defaults."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from hpcflow.settings import ENVIRONMENT, Settings, node_options

REPO = Path(__file__).resolve().parents[2]


def test_flags_beat_the_environment_which_beats_the_defaults(tmp_path: Path):
    env = {"HPCFLOW_HOME": str(tmp_path / "env-home"), "HPCFLOW_SITE": "env.toml", "USER": "u",
           "HPCFLOW_LOCAL_WORKERS": "3", "HPCFLOW_NO_ZYGOTE": "1", "PYTHONPATH": "/a:/b"}
    from_env = Settings.resolve(environ=env)
    assert (from_env.home, from_env.site_file) == (tmp_path / "env-home", "env.toml")
    assert from_env.local_workers == 3 and not from_env.fork_server and from_env.python_path == ("/a", "/b")
    flagged = Settings.resolve(site="flag.toml", home=tmp_path / "flag-home", environ=env)
    assert (flagged.home, flagged.site_file) == (tmp_path / "flag-home", "flag.toml")
    default = Settings.resolve(environ={"USER": "u", "HOME": str(tmp_path)})
    assert default.home == Path.home() / ".hpcflow" and default.submit_only is False
    assert default.wait_at_exit is True and default.fork_server is True


def test_node_options_come_from_the_nodes_environment():
    assert node_options({"HPCFLOW_SCRATCH": "/local", "TMPDIR": "/t"}).scratch == "/local"
    assert node_options({"TMPDIR": "/t"}).scratch == "/t"
    assert node_options({"HPCFLOW_FSYNC": "1"}).fsync and not node_options({"HPCFLOW_FSYNC": "0"}).fsync


def test_only_the_settings_module_reads_hpcflows_environment_variables():
    """Every other module gets a Settings object; none reads an HPCFLOW_* variable itself
    (node_settings.py holds what a job reads, for hpcflow.settings)."""
    offenders = []
    for path in (REPO / "hpcflow").rglob("*.py"):
        if path.name in ("settings.py", "node_settings.py"):
            continue
        text = path.read_text()
        for name in ENVIRONMENT:
            reads = (rf"environ\.get\([\"']{name}[\"']", rf"environ\[[\"']{name}[\"']\](?!\s*=[^=])",
                     rf"getenv\([\"']{name}[\"']")
            if any(re.search(pattern, text) for pattern in reads):  # setting one for a child is fine
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []


def test_every_variable_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    missing = [name for name in ENVIRONMENT if f"`{name}`" not in readme]
    assert missing == []


def test_the_cli_passes_its_flags_down_without_writing_the_environment(tmp_path: Path):
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent("""
        import os
        from hpcflow import settings
        print(os.environ.get("HPCFLOW_HOME"), os.environ.get("HPCFLOW_SUBMIT_ONLY"),
              settings.current().home, settings.current().submit_only)
    """))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    home = tmp_path / "flag-home"
    proc = subprocess.run([sys.executable, "-m", "hpcflow.cli.main", "--home", str(home), "submit", str(script)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "None", str(home), "True"]
