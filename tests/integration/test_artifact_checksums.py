"""A step that finds an input artifact changed since its producer finished fails with
ChecksumMismatch naming itself and the file; unchanged artifacts pass (local engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import Step, Workflow
from hpcflow.python import PythonOPTemplate
from tests.integration import wf_ops as ops

pytestmark = pytest.mark.usefixtures("hpcflow_home")


def three_steps(name: str, middle_edits: bool) -> Workflow:
    """make → (a middle step that reads, or edits, the file) → read."""
    wf = Workflow(name)
    make = Step("make", PythonOPTemplate(ops.write_file), parameters={"name": "out.txt", "content": "42"},
                key="make")
    middle_op = ops.append_to if middle_edits else ops.read_text
    middle = Step("middle", PythonOPTemplate(middle_op), artifacts={"f": make.outputs.artifacts["out"]},
                  parameters={"text": " and more"} if middle_edits else {})
    read = Step("read", PythonOPTemplate(ops.read_text, retry_on_failure=2),
                artifacts={"f": make.outputs.artifacts["out"]})
    wf.add(make)
    wf.add(middle)
    wf.add(read)
    return wf


def steps(wf: Workflow) -> dict[str, object]:
    return {s.name: s for s in wf.query_step(type="Pod")}


def test_unchanged_artifacts_pass_every_consumer():
    wf = three_steps("clean", middle_edits=False)
    wf.submit()
    assert wf.wait(timeout=120) == "Succeeded"
    assert steps(wf)["read"].outputs.parameters["text"].value == "42"


def test_an_artifact_edited_in_place_fails_the_next_consumer():
    wf = three_steps("edited", middle_edits=True)
    wf.submit()
    assert wf.wait(timeout=120) == "Failed"
    by_name = steps(wf)
    assert by_name["middle"].phase == "Succeeded"  # it read the file intact, then edited it
    read = by_name["read"]
    path = by_name["make"].outputs.raw["artifacts"]["out"]
    assert read.phase == "Failed" and read.attempts == 1  # fatal: not retried, though it may be
    assert read.message.startswith(
        f"ChecksumMismatch: step read: input artifact 'f': {path} changed after step make produced it")
    assert Path(path).read_text() == "42 and more"


def test_reuse_checks_the_reused_outputs_unless_the_user_replaced_them(tmp_path: Path):
    first = three_steps("first", middle_edits=False)
    first.submit()
    assert first.wait(timeout=120) == "Succeeded"
    make = first.query_step(name="make")[0]
    path = Path(make.outputs.raw["artifacts"]["out"])
    path.write_text("43")  # edited after the run: a restart reusing "make" must notice

    again = three_steps("again", middle_edits=False)
    again.submit(reuse_step=[make])
    assert again.wait(timeout=120) == "Failed"
    assert "ChecksumMismatch: step middle: input artifact 'f'" in steps(again)["middle"].message

    make.modify_output_artifact("out", str(path))  # Dflow's way to vouch for new content
    vouched = three_steps("vouched", middle_edits=False)
    vouched.submit(reuse_step=[make])
    assert vouched.wait(timeout=120) == "Succeeded"
    assert steps(vouched)["read"].outputs.parameters["text"].value == "43"
