"""pre_script / post_script of a Python OP template, run by the real job runtime.

As in Dflow, both are Python code run in the job's process: pre_script before the OP is
imported, post_script after ``execute`` returned, in one namespace.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from hpcflow.errors import SpecError
from hpcflow.python import OP, OPIO, OPIOSign, PythonOPTemplate
from hpcflow.spec.validate import _validate_hooks
from tests.helpers import make_unit, read_exit, read_log, read_outputs, run_units


class Traced(OP):
    """Appends to a trace file, reports what pre_script left in the process."""

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(trace=str)

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign(pid=int, env=str)

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        with open(op_in["trace"], "a") as fh:
            fh.write(f"op {os.getpid()}\n")
        return OPIO(pid=os.getpid(), env=os.environ.get("SET_BY_PRE", ""))


# Dflow formats both scripts with str.format: {{ }} are braces, {tmp_root} the step's dir.
PRE = """
import os
os.environ["SET_BY_PRE"] = "yes"
shared = "from-pre"
with open(TRACE, "a") as fh:
    fh.write(f"pre {{os.getpid()}}\\n")
"""

# Indented, as Dflow users write it to sit inside the generated script's main block.
POST = """
    with open(TRACE, "a") as fh:
        fh.write(f"post {{os.getpid()}} {{shared}} {{output['pid']}} {{input['trace'] == TRACE}}\\n")
    open("{tmp_root}/post-ran", "w").close()
"""


def test_pre_and_post_script_run_around_the_op_in_its_process(tmp_path: Path) -> None:
    trace = str(tmp_path / "trace.txt")
    t = PythonOPTemplate(Traced, pre_script=PRE.replace("TRACE", repr(trace)),
                         post_script=POST.replace("TRACE", repr(trace)))
    unit = make_unit(tmp_path, t, parameters={"trace": trace})
    proc = run_units(unit)
    assert proc.returncode == 0, read_log(unit)
    pid = read_exit(unit)["pid"]
    assert Path(trace).read_text().splitlines() == [
        f"pre {pid}", f"op {pid}", f"post {pid} from-pre {pid} True"]
    assert read_outputs(unit)["parameters"] == {"pid": pid, "env": "yes"}  # pre ran first
    assert (unit / "work" / "post-ran").exists()  # {tmp_root} is the step's directory


def test_pre_script_runs_before_the_op_is_imported(tmp_path: Path) -> None:
    """Dflow users extend sys.path in pre_script; the OP's module is only importable then."""
    pkg = tmp_path / "hidden"
    pkg.mkdir()
    (pkg / "hidden_ops.py").write_text(textwrap.dedent("""
        from hpcflow.python import OP

        @OP.function
        def where() -> {"module": str}:
            return {"module": __file__}
    """))
    sys.path.insert(0, str(pkg))
    try:
        import hidden_ops

        t = PythonOPTemplate(hidden_ops.where, pre_script=f"import sys\nsys.path.insert(0, {str(pkg)!r})\n")
        hooked = make_unit(tmp_path, t)
        plain = make_unit(tmp_path, PythonOPTemplate(hidden_ops.where))
    finally:
        sys.path.remove(str(pkg))
        sys.modules.pop("hidden_ops", None)
    assert run_units(hooked).returncode == 0, read_log(hooked)
    assert read_outputs(hooked)["parameters"]["module"] == str(pkg / "hidden_ops.py")
    run_units(plain)  # without the pre_script the job cannot import the OP's module
    assert read_exit(plain)["kind"] == "load", read_log(plain)


@pytest.mark.parametrize(
    ("which", "code", "kind", "message"),
    [
        ("pre_script", "raise ValueError('no licence server')", "error",
         "HookError: pre_script of step hooked failed: ValueError: no licence server"),
        ("post_script", "from hpcflow.python import FatalError\nraise FatalError('bad output')",
         "fatal", "FatalError: bad output"),
        ("pre_script", "from hpcflow.python import TransientError\nraise TransientError('busy')",
         "transient", "TransientError: busy"),
    ],
)
def test_a_failing_hook_fails_the_step_with_its_kind(
    tmp_path: Path, which: str, code: str, kind: str, message: str
) -> None:
    trace = tmp_path / "trace.txt"
    t = PythonOPTemplate(Traced, **{which: code})
    unit = make_unit(tmp_path, t, parameters={"trace": str(trace)}, step="hooked")
    assert run_units(unit).returncode == 1
    record = read_exit(unit)
    assert (record["status"], record["kind"], record["message"]) == ("failed", kind, message)
    assert f"<{which} of step hooked>" in record["traceback"]  # the hook's own line is shown
    assert trace.exists() == (which == "post_script")  # a failing pre_script stops the OP


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ({"kind": "python", "pre_script": "cfg = {'a': 1}"}, "write {{ and }} for literal braces"),
        ({"kind": "python", "post_script": "x = ("}, "post_script is not valid Python"),
        ({"kind": "shell", "pre_script": "echo hi"}, "pre_script is an option of PythonOPTemplate"),
    ],
)
def test_bad_hooks_are_spec_errors(template: dict, error: str) -> None:
    with pytest.raises(SpecError, match="template T: ") as info:
        _validate_hooks("T", template)
    assert error in str(info.value)
    _validate_hooks("T", {"kind": "python", "pre_script": "cfg = {{'a': 1}}\nprint('{tmp_root}')"})
