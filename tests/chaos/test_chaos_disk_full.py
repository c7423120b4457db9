"""The work root sits on a 2 MiB tmpfs that fills up mid-workflow: the step fails with an
error naming the full filesystem, the store stays intact, and ``hpcflow retry`` runs it
once space is freed."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.conftest import GatedWorkflow
from tests.chaos.project import SITE, tick_errors

pytestmark = [pytest.mark.slurm, pytest.mark.chaos]

BODY = '''

@OP.function
def first(x: int) -> {"y": int}:
    mark(MARKER, "start")
    mark(MARKER, "end")
    return {"y": x + 1}


@OP.function
def produce(y: int) -> {"data": Artifact(Path)}:
    mark(MARKER, "start")
    while not os.path.exists(GATE):  # the test fills the filesystem meanwhile
        time.sleep(0.2)
    Path("data.bin").write_bytes(bytes(range(256)) * 1024 * y)  # 256 KiB per unit of y
    mark(MARKER, "end")
    return {"data": Path("data.bin")}


@OP.function
def measure(data: Artifact(Path)) -> {"size": int}:
    mark(MARKER, "start")
    mark(MARKER, "end")
    return {"size": Path(data).stat().st_size}


wf = Workflow("diskfull")
a = Step("first", PythonOPTemplate(first), parameters={"x": 0})
wf.add(a)
b = Step("produce", PythonOPTemplate(produce), parameters={"y": a.outputs.parameters["y"]})
wf.add(b)
wf.add(Step("measure", PythonOPTemplate(measure), artifacts={"data": b.outputs.artifacts["data"]}))
wf.submit()
'''


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards whatever happened."""
    mount = tmp_path / "scratch"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def site_on(work_root: Path, path: Path) -> Path:
    """The test cluster's site file with its work root moved to ``work_root``."""
    lines = [f'work_root = "{work_root}"' if line.startswith("work_root") else line
             for line in SITE.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return path


def fill(fs: Path, name: str) -> Path:
    """Write a ballast file until the filesystem is full."""
    ballast = fs / name
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    assert os.statvfs(fs).f_bavail == 0
    return ballast


def step_of(run: GatedWorkflow, name: str) -> dict:
    return run.read(lambda store: next(n for n in store.load_nodes(run.wf_id) if n["name"] == name))


def integrity(run: GatedWorkflow) -> str:
    return run.read(lambda store: store.conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.timeout(300)
def test_full_work_root_fails_the_step_clearly_and_retry_runs_it(
        gated: GatedWorkflow, small_fs: Path, tmp_path: Path, rng: random.Random):
    project, marker, gate = gated.project, gated.marker, gated.gate
    project.site = site_on(small_fs / "work", tmp_path / "small-site.toml")
    wf_id = gated.submit(BODY)
    deadline = time.monotonic() + 120
    while "produce" not in marker.read_text() if marker.exists() else True:
        assert time.monotonic() < deadline, "produce never started"
        time.sleep(0.2)
    ballasts = [fill(small_fs, "ballast")]
    gate.touch()
    assert project.wait([wf_id], timeout=120) == {wf_id: "Failed"}
    produced = step_of(gated, "produce")
    first_message = produced["message"]

    # Retried while the filesystem is still full (topped up: the failed attempt gave back the
    # space held for its exit record): now the engine cannot even write the job's task
    # list, and the step fails again with the same clear reason; no tick crashes.
    ballasts.append(fill(small_fs, "ballast2"))
    project.hpcflow("retry", wf_id, "--no-wait")
    assert project.wait([wf_id], timeout=120) == {wf_id: "Failed"}
    second_message = step_of(gated, "produce")["message"]

    for ballast in ballasts:
        ballast.unlink()
    retry = project.hpcflow("retry", wf_id, timeout=180)
    statuses, counts = gated.finish("work root on a 2 MiB tmpfs filled mid-step, then freed and retried",
                                    "failed clearly, retry {status}")
    for message in (first_message, second_message):
        assert "No space left on device" in message and str(small_fs) in message, message
    assert "full" in first_message and "full" in second_message
    assert "cannot prepare attempt 2" in second_message  # the engine's own write (task list)
    assert statuses == {wf_id: "Succeeded"}, retry.stdout + retry.stderr
    assert step_of(gated, "measure")["outputs"]["parameters"]["size"] == 256 * 1024
    assert step_of(gated, "first")["attempts"] == 1  # finished work is never redone
    assert integrity(gated) == "ok"
    assert tick_errors(project.daemon_log_text()) == []
    assert counts.lost == [] and counts.duplicates == 0, counts.describe()
