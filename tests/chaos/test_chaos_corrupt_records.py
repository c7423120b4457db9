"""Damaged attempt files on the shared filesystem: a truncated entry of the job's task list,
an attempt directory deleted while its unit runs, a corrupt ``exit.json``. Each gives one
clear error naming the file and no tick crashes; the first two leave no exit record, so
the engine retries them itself (a new task list), the untouched unit is not rerun, and
``hpcflow retry`` recovers the corrupt record's unit."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import GatedWorkflow
from tests.chaos.markers import read_marks
from tests.chaos.project import tick_errors

pytestmark = [pytest.mark.slurm, pytest.mark.chaos]

BODY = '''

@OP.function
def square(x: int) -> {"y": int}:
    mark(MARKER, "start")
    while not os.path.exists(f"{GATE}-{x}"):
        time.sleep(0.2)
    mark(MARKER, "end")
    return {"y": x * x}


wf = Workflow("damaged")
# One array task at a time: while slice 0 runs, the others wait in the queue (their
# records in the job's task list; their attempt directories are made when they start).
wf.add(Step("square", PythonOPTemplate(square, slices=Slices(input_parameter=["x"], output_parameter=["y"])),
            parameters={"x": [0, 1, 2, 3]}, parallelism=1))
wf.submit()
'''


def attempt_dir(run: GatedWorkflow, path: str, number: int = 1) -> Path:
    return run.read(lambda store: Path(next(
        a["dir"] for a in store.attempts(run.wf_id) if a["node_path"] == path and a["number"] == number)))


def tag_of(run: GatedWorkflow) -> str:
    return run.read(lambda store: next(
        a["tag"] for a in store.attempts(run.wf_id) if a["node_path"] == "square(1)"))


def truncate_task_line(path: Path, number: int, rng: random.Random) -> None:
    """Cut array task ``number``'s line of a task list short (the rest stays in place)."""
    from hpcflow.runtime.tasklist import MAGIC, OFFSET_WIDTH

    data = bytearray(path.read_bytes())
    header_end = data.index(b"\n", len(MAGIC)) + 1
    at = header_end + number * (OFFSET_WIDTH + 1)
    start = int(data[at:at + OFFSET_WIDTH])
    end = data.index(b"\n", start)
    cut = rng.randint(start + 1, end - 2)
    data[cut:end] = b" " * (end - cut)  # same length: the other tasks' offsets still hold
    path.write_bytes(bytes(data))


def wait_until(what: str, ok, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_damaged_attempt_files_fail_clearly(gated: GatedWorkflow, rng: random.Random):
    project, marker, gate = gated.project, gated.marker, gated.gate
    wf_id = gated.submit(BODY)
    wait_until("slice 0 to start", lambda: len(read_marks(marker)) >= 1)

    task = attempt_dir(gated, "square(1)").parent.parent / "jobs" / tag_of(gated) / "tasks.jsonl"
    truncate_task_line(task, 1, rng)  # slice 1's entry, cut mid-line
    deleted = attempt_dir(gated, "square(2)")
    project.stop_daemon()  # so that nothing reads slice 0's exit record before it is damaged
    Path(f"{gate}-0").touch()
    record = attempt_dir(gated, "square(0)") / "exit.json"
    wait_until("slice 0's exit record", record.exists)
    data = record.read_bytes()
    record.write_bytes(data[: rng.randint(1, len(data) - 2)])
    wait_until("slice 2 to start", lambda: any(Path(m["attempt"]).resolve() == deleted.resolve()
                                               for m in read_marks(marker)))
    shutil.rmtree(deleted)  # while its unit runs
    for x in (1, 2, 3):
        Path(f"{gate}-{x}").touch()
    project.start_daemon()
    first = project.wait([wf_id], timeout=120)

    steps = gated.read(lambda store: {n["path"]: n for n in store.load_nodes(wf_id)})
    first_attempts = gated.read(lambda store: {
        a["node_path"]: a for a in store.attempts(wf_id) if a["number"] == 1})
    show = project.hpcflow("show", wf_id, check=False)
    messages = {p: first_attempts[p]["message"] or "" for p in ("square(0)", "square(1)", "square(2)")}
    project.hpcflow("retry", wf_id, timeout=180)
    statuses, counts = gated.finish("truncated task list entry, deleted attempt directory, corrupt exit.json",
                                    f"{first[wf_id]} with one clear error each, retry {{status}}")
    log = project.daemon_log_text()
    assert first == {wf_id: "Failed"}, log[-3000:]
    assert steps["square(3)"]["phase"] == "Succeeded"
    assert all(first_attempts[p]["status"] == "failed" for p in messages), first_attempts
    assert f"{record} is corrupt" in messages["square(0)"]
    assert steps["square(0)"]["phase"] == "Failed"  # the record is the truth: fatal
    # A damaged task list entry or a directory deleted under a running unit leaves no exit
    # record: the job's log says why, and the engine's system retry (a new task list) ran
    # the unit again on its own.
    assert f"{task}: task 1 is damaged" in messages["square(1)"], messages["square(1)"]
    assert f"the attempt directory {deleted} was deleted" in messages["square(2)"], messages["square(2)"]
    assert steps["square(1)"]["phase"] == steps["square(2)"]["phase"] == "Succeeded"
    assert show.returncode == 0, show.stderr
    assert tick_errors(log) == [], tick_errors(log)
    assert statuses == {wf_id: "Succeeded"}
    assert counts.ends["%s:square(3)" % wf_id] == 1  # the untouched slice was not rerun
    assert counts.lost == [] and counts.duplicates == 0, counts.describe()
