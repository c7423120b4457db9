"""Damaged attempt files on the shared filesystem: a truncated ``task.json``, a deleted attempt
directory, a corrupt ``exit.json``. Each gives one clear error naming the file, no tick
crashes, the untouched unit is not rerun, and ``hpcflow retry`` recovers the others."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests.chaos import report
from tests.chaos.markers import MARK_SOURCE, read_marks, tally
from tests.chaos.project import Project, tick_errors

pytestmark = [pytest.mark.slurm, pytest.mark.chaos]

HEAD = '''
import os
import time

from hpcflow import Step, Workflow
from hpcflow.python import OP, PythonOPTemplate, Slices

MARKER = {marker!r}
GATE = {gate!r}
'''

BODY = '''

@OP.function
def square(x: int) -> {"y": int}:
    mark(MARKER, "start")
    while not os.path.exists(f"{GATE}-{x}"):
        time.sleep(0.2)
    mark(MARKER, "end")
    return {"y": x * x}


wf = Workflow("damaged")
# One array task at a time: while slice 0 runs, the others wait in the queue with their
# attempt directories and task files already written.
wf.add(Step("square", PythonOPTemplate(square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
            parameters={"x": [0, 1, 2, 3]}, parallelism=1))
wf.submit()
'''


def attempt_dir(project: Project, wf_id: str, path: str, number: int = 1) -> Path:
    store = project.store()
    try:
        att = next(a for a in store.attempts(wf_id) if a["node_path"] == path and a["number"] == number)
        return Path(att["dir"])
    finally:
        store.close()


def wait_until(what: str, ok, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_damaged_attempt_files_fail_clearly(project: Project, tmp_path: Path, rng: random.Random):
    marker, gate = tmp_path / "marks", tmp_path / "gate"
    project.write("wf.py", HEAD.format(marker=str(marker), gate=str(gate)) + MARK_SOURCE + BODY)
    (wf_id,) = project.submit("wf.py")
    project.start_daemon()
    wait_until("slice 0 to start", lambda: len(read_marks(marker)) >= 1)

    task = attempt_dir(project, wf_id, "square(1)") / "task.json"
    text = task.read_text()
    task.write_text(text[: rng.randint(1, len(text) - 2)])  # truncated mid-write
    deleted = attempt_dir(project, wf_id, "square(2)")
    shutil.rmtree(deleted)
    project.stop_daemon()  # so that nothing reads slice 0's exit record before it is damaged
    Path(f"{gate}-0").touch()
    record = attempt_dir(project, wf_id, "square(0)") / "exit.json"
    wait_until("slice 0's exit record", record.exists)
    data = record.read_bytes()
    record.write_bytes(data[: rng.randint(1, len(data) - 2)])
    Path(f"{gate}-3").touch()
    project.start_daemon()
    first = project.wait([wf_id], timeout=120)

    store = project.store()
    steps = {n["path"]: n for n in store.load_nodes(wf_id)}
    store.close()
    show = project.hpcflow("show", wf_id, check=False)
    messages = {p: steps[p]["message"] or "" for p in ("square(0)", "square(1)", "square(2)")}
    for x in (1, 2):
        Path(f"{gate}-{x}").touch()
    project.hpcflow("retry", wf_id, timeout=180)
    statuses = project.statuses([wf_id])
    project.stop_daemon()
    store = project.store()
    counts = tally(marker, store, [wf_id])
    store.close()
    log = project.daemon_log_text()
    report.record("truncated task.json, deleted attempt directory, corrupt exit.json",
                  f"{first[wf_id]} with one clear error each, retry {statuses[wf_id]}",
                  units=len(counts.units), lost=len(counts.lost), duplicates=counts.duplicates)
    assert first == {wf_id: "Failed"}, log[-3000:]
    assert steps["square(3)"]["phase"] == "Succeeded"
    assert all(steps[p]["phase"] == "Failed" for p in messages), messages
    assert f"{record} is corrupt" in messages["square(0)"]
    assert f"{task} is corrupt" in messages["square(1)"]
    assert f"the attempt directory {deleted} was deleted" in messages["square(2)"]
    assert show.returncode == 0, show.stderr
    assert tick_errors(log) == [], tick_errors(log)
    assert statuses == {wf_id: "Succeeded"}
    assert counts.ends["%s:square(3)" % wf_id] == 1  # the untouched slice was not rerun
    assert counts.lost == [] and counts.duplicates == 0, counts.describe()
