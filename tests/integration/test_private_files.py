"""What hpcflow creates on a shared login node is private to its user by default."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest

from hpcflow import Step, Workflow, upload_artifact
from hpcflow.errors import ConfigError
from hpcflow.private import make_dirs, parse_mode, private_file
from hpcflow.python import PythonOPTemplate
from hpcflow.site import load_site
from tests.integration import wf_ops as ops


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The common login-node umask (022): files would be world-readable by default."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def run_artifact_workflow(tmp_path: Path) -> Workflow:
    src = tmp_path / "input.txt"
    src.write_text("secret data")
    wf = Workflow("private")
    read = Step("read", PythonOPTemplate(ops.read_text), artifacts={"f": upload_artifact(src)})
    wf.add(read)
    wf.add(Step("write", PythonOPTemplate(ops.write_file), parameters={"name": "o.txt", "content": "result"}))
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    return wf


def test_store_and_work_directories_are_private(hpcflow_home: Path, tmp_path: Path, open_umask):
    wf = run_artifact_workflow(tmp_path)
    assert mode(hpcflow_home) == 0o700
    for name in ("hpcflow.db", "hpcflow.db-wal", "hpcflow.db-shm", "engine.lock"):
        if (hpcflow_home / name).exists():
            assert mode(hpcflow_home / name) == 0o600, name
    work_dir = Path(wf.query()["work_dir"])
    assert mode(work_dir) == 0o700
    uploads = hpcflow_home / "work" / "uploads"
    assert mode(uploads) == 0o700 and all(mode(d) == 0o700 for d in uploads.iterdir())
    out = wf.query_step(name="write")[0].outputs.artifacts["out"]
    assert Path(out.value).read_text() == "result"  # the owner still reads every artifact


def test_an_older_world_readable_store_is_tightened(tmp_path: Path, open_umask):
    from hpcflow.store import Store

    home = tmp_path / "old-home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    db = home / "hpcflow.db"
    db.touch()
    os.chmod(db, 0o644)
    Store(db)
    assert mode(home) == 0o700 and mode(db) == 0o600


def test_a_site_may_share_work_directories_with_its_group(hpcflow_home: Path, tmp_path: Path, open_umask,
                                                          monkeypatch: pytest.MonkeyPatch):
    from hpcflow.client import reset_clients

    site = tmp_path / "team.toml"
    site.write_text(textwrap.dedent(f"""
        name = "team"
        scheduler = "local"
        work_root = "{tmp_path / 'team-work'}"
        work_root_mode = "0750"
    """))
    monkeypatch.setenv("HPCFLOW_SITE", str(site))
    reset_clients()
    wf = run_artifact_workflow(tmp_path)
    assert mode(Path(wf.query()["work_dir"])) == 0o750
    assert mode(tmp_path / "team-work") == 0o750


@pytest.mark.parametrize("text, problem", [
    ("0755", "every user"), ("0644", "owner needs rwx"), ("rwx", "octal"), ("0777", "every user"),
])
def test_bad_work_root_modes_are_refused(text: str, problem: str, tmp_path: Path):
    with pytest.raises(ValueError, match=problem):
        parse_mode(text)
    site = tmp_path / "bad.toml"
    site.write_text(f'name = "bad"\nwork_root_mode = "{text}"\n')
    with pytest.raises(ConfigError, match="work_root_mode"):
        load_site(site)


def test_make_dirs_and_private_file_ignore_the_umask(tmp_path: Path, open_umask):
    leaf = make_dirs(tmp_path / "a" / "b", 0o750)
    assert mode(tmp_path / "a") == 0o750 and mode(leaf) == 0o750
    existing = tmp_path / "mine"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    make_dirs(existing)
    assert mode(existing) == 0o755  # a directory the user made stays as they made it
    f = private_file(tmp_path / "f")
    assert mode(f) == 0o600
