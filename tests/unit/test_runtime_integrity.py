"""Content hashes of shared-filesystem artifacts, recorded by a real producer job and
checked by a real consumer job before its OP starts."""

# ruff: noqa: F821, F722, UP037

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hpcflow.engine.hashes import HashIndex
from hpcflow.engine.model import POD, Node
from hpcflow.python import OP, Artifact, PythonOPTemplate
from tests.helpers import make_unit, read_exit, read_log, read_outputs, read_task, run_units


@OP.function
def produce() -> {"f": Artifact(Path), "d": Artifact(Path)}:
    Path("result.txt").write_text("energy = -3.5\n")
    Path("frames").mkdir()
    for i in range(3):
        (Path("frames") / f"{i}.xyz").write_text(f"frame {i}\n")
    return {"f": Path("result.txt"), "d": Path("frames")}


@OP.function
def consume(f: Artifact(Path), d: Artifact(Path), marker: str) -> {"text": str}:
    Path(marker).write_text("the OP ran")
    return {"text": Path(f).read_text() + str(len(list(Path(d).iterdir())))}


def producer(tmp_path: Path) -> tuple[dict[str, Any], HashIndex]:
    unit = make_unit(tmp_path, PythonOPTemplate(produce), step="make")
    assert run_units(unit).returncode == 0, read_log(unit)
    outputs = read_outputs(unit)
    index = HashIndex()
    index.add(Node("make", None, "make", "produce", POD, outputs=outputs))
    return outputs, index


def consumer(tmp_path: Path, outputs: dict[str, Any], index: HashIndex) -> Path:
    marker = tmp_path / f"ran-{len(list(tmp_path.iterdir()))}"
    unit = make_unit(tmp_path, PythonOPTemplate(consume), step="loop/use", hashes=index,
                     parameters={"marker": str(marker)}, artifacts=outputs["artifacts"])
    run_units(unit)
    return unit


def test_producer_records_hash_and_fingerprint_of_each_output_path(tmp_path: Path) -> None:
    outputs, _ = producer(tmp_path)
    f, d = outputs["artifacts"]["f"], outputs["artifacts"]["d"]
    import hashlib

    assert set(outputs["hashes"]) == {f, d}
    assert outputs["hashes"][f]["sha256"] == hashlib.sha256(b"energy = -3.5\n").hexdigest()
    assert len(outputs["hashes"][d]["stat"]) == 64


def test_unchanged_inputs_pass_and_their_records_reach_the_task(tmp_path: Path) -> None:
    outputs, index = producer(tmp_path)
    unit = consumer(tmp_path, outputs, index)
    assert read_exit(unit)["status"] == "succeeded", read_log(unit)
    task = read_task(unit)
    assert set(task["input_hashes"]) == set(outputs["artifacts"].values())
    assert {r["step"] for r in task["input_hashes"].values()} == {"make"}


def test_metadata_changes_with_the_same_content_pass(tmp_path: Path) -> None:
    outputs, index = producer(tmp_path)
    f = Path(outputs["artifacts"]["f"])
    os.chmod(f, 0o600)
    os.utime(f, (1, 1))  # fingerprint differs: the file is hashed again, and matches
    assert read_exit(consumer(tmp_path, outputs, index))["status"] == "succeeded"


def _same_size_edit(path: Path) -> None:
    st = path.stat()
    path.write_text(path.read_text().replace("3.5", "9.9"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with mtime set back


def _edit_in_dir(d: Path) -> None:
    (d / "1.xyz").write_text("frame X\n")


def _add_to_dir(d: Path) -> None:
    (d / "3.xyz").write_text("frame 3\n")


@pytest.mark.parametrize(("which", "change"), [("f", _same_size_edit), ("d", _edit_in_dir),
                                               ("d", _add_to_dir), ("f", os.unlink)])
def test_a_changed_input_fails_the_consumer_before_its_op(tmp_path: Path, which: str, change: Any) -> None:
    outputs, index = producer(tmp_path)
    path = outputs["artifacts"][which]
    change(Path(path))
    unit = consumer(tmp_path, outputs, index)
    record = read_exit(unit)
    assert (record["status"], record["kind"]) == ("failed", "fatal"), read_log(unit)
    assert record["message"].startswith(f"ChecksumMismatch: step loop/use: input artifact {which!r}: {path} ")
    assert "step make produced it" in record["message"]
    assert not any(p.name.startswith("ran-") for p in tmp_path.iterdir())  # the OP never ran
