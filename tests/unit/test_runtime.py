"""The job runtime, run for real: ``python -m hpcflow.runtime [--pool N] UNIT_DIR...``.

Units are written by ``tests.helpers.make_unit`` exactly as the engine writes them; OPs in
this module are imported by the job through PYTHONPATH (as the engine arranges for the
submitting script's directory).
"""

# Dict-literal return annotations ({"y": int}) are Dflow's function-OP syntax, not types.
# ruff: noqa: F821, F722, UP037

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest

from hpcflow.dsl.io import (
    InputArtifact,
    InputParameter,
    Inputs,
    OutputArtifact,
    OutputParameter,
    Outputs,
)
from hpcflow.dsl.templates import PythonScriptOPTemplate, ShellOPTemplate
from hpcflow.python import (
    OP,
    OPIO,
    Artifact,
    FatalError,
    NestedDict,
    OPIOSign,
    Parameter,
    PythonOPTemplate,
    TransientError,
)
from hpcflow.runtime import records as rec
from tests.helpers import (
    REPO_ROOT,
    make_unit,
    read_exit,
    read_log,
    read_outputs,
    read_task,
    run_units,
)

# ----------------------------------------------------------------------------- OPs under test


class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


class Scale(OP):
    """Scales a point and writes a report file (an output artifact)."""

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(p=Parameter(Point), k=Parameter(float, default=2.0), tag=str)

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign(q=Point, tags=List[str], report=Artifact(Path), cwd=str, slices=Any)

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        p, k = op_in["p"], op_in["k"]
        Path("report.txt").write_text(f"{p.x * k},{p.y * k}")
        return OPIO(
            q=Point(p.x * k, p.y * k),
            tags=[op_in["tag"], "done"],
            report=Path("report.txt"),
            cwd=os.getcwd(),
            slices=self.slices,
        )


@OP.function
def add(a: int, b: int = 10) -> {"sum": int, "env": str}:
    return {"sum": a + b, "env": os.environ.get("HPCFLOW_TEST_ENV", "")}


@OP.function
def parse_list(xs: List[int]) -> int:
    return sum(xs)


class Raiser(OP):
    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(how=str)

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        how = op_in["how"]
        if how == "transient":
            raise TransientError("the file server blinked")
        if how == "fatal":
            raise FatalError("the input is nonsense")
        if how == "keyerror":
            return {}["no-such-key"]
        raise ValueError(f"bad value {how!r} in deep_helper")


class Sleeper(OP):
    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(marker=str, seconds=float)

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        time.sleep(op_in["seconds"])
        Path(op_in["marker"]).write_text("slept to the end")
        return OPIO()


class ArtifactOP(OP):
    """Reports how each input artifact arrived and returns artifacts of each structure."""

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(
            f=Artifact(Path),
            d=Artifact(Path),
            s=Artifact(str),
            lst=Artifact(List[Path]),
            dct=Artifact(Dict[str, Path]),
            nested=Artifact(NestedDict[Path]),
            missing=Artifact(Path, optional=True),
        )

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign(
            seen=dict,
            out_f=Artifact(Path),
            out_lst=Artifact(List[Path]),
            out_dct=Artifact(Dict[str, Path]),
            out_rel=Artifact(Path),
            out_nested=Artifact(NestedDict[Path]),
        )

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        seen = {
            "f": [type(op_in["f"]).__name__, op_in["f"].read_text()],
            "d": [type(op_in["d"]).__name__, sorted(p.name for p in op_in["d"].iterdir())],
            "s": [type(op_in["s"]).__name__, op_in["s"]],
            "lst": [[type(p).__name__, p.name] for p in op_in["lst"]],
            "dct": [[k, type(v).__name__, v.name] for k, v in op_in["dct"].items()],
            "nested": type(op_in["nested"]["inner"]["leaf"]).__name__,
            "missing": op_in["missing"],
        }
        Path("made").mkdir()
        Path("made/new.txt").write_text("new")
        return OPIO(
            seen=seen,
            out_f=op_in["f"],
            out_lst=list(op_in["lst"]),
            out_dct=dict(op_in["dct"]),
            out_rel=Path("made/new.txt"),
            out_nested={"a": {"b": Path("made")}, "c": op_in["f"]},
        )


class StrArtifacts(OP):
    """Dflow hands List[str] / Dict[str, str] artifacts over as str, Set[...] as a set."""

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(ls=Artifact(List[str]), ds=Artifact(Dict[str, str]), sp=Artifact(Set[Path]))

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign(seen=dict)

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO(
            seen={
                "ls": sorted({type(v).__name__ for v in op_in["ls"]}),
                "ds": sorted({type(v).__name__ for v in op_in["ds"].values()}),
                "sp": type(op_in["sp"]).__name__,
            }
        )


class PhantomOutput(OP):
    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign(result=Artifact(Path))

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO(result=Path("never-written.dat"))


class Unchecked(OP):
    """No @OP.exec_sign_check: the runtime must check it all the same."""

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(x=int)

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign(y=int)

    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO(y=str(op_in["x"]))


class Echo(OP):
    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign(text=str)

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign(text=str, length=int, pid=int)

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        if op_in["text"] == "fail":
            raise RuntimeError("asked to fail")
        return OPIO(text=op_in["text"], length=len(op_in["text"]), pid=os.getpid())


# ----------------------------------------------------------------------------- helpers


def leftover_temp_files(unit: Path) -> list[str]:
    return sorted(p.name for p in unit.iterdir() if p.name.startswith(".") or ".tmp" in p.name)


def assert_failed(unit: Path, kind: str) -> dict[str, Any]:
    record = read_exit(unit)
    assert record["status"] == "failed", (record, read_log(unit))
    assert record["kind"] == kind, (record, read_log(unit))
    assert isinstance(record["started_at"], float) and record["finished_at"] >= record["started_at"]
    assert not (unit / "outputs.json").exists()
    return record


# ----------------------------------------------------------------------------- Python OPs


def test_class_op_success(tmp_path: Path) -> None:
    t = PythonOPTemplate(Scale)
    unit = make_unit(tmp_path, t, parameters={"p": Point(1.0, 2.5), "tag": "t1"}, slice_index=4)
    task = read_task(unit)
    assert task["op"] == {"module": __name__, "qualname": "Scale"}
    assert "op" not in task["template"] and task["slice_index"] == 4

    before = time.time()
    proc = run_units(unit)
    assert proc.returncode == 0, (proc.stderr, read_log(unit))

    record = read_exit(unit)
    assert record["status"] == "succeeded" and record["kind"] is None
    assert record["message"] == ""
    assert before <= record["started_at"] <= record["finished_at"] <= time.time()
    assert record["pid"] != os.getpid()

    out = read_outputs(unit)
    params = out["parameters"]
    assert params["tags"] == ["t1", "done"]
    assert params["cwd"] == str(unit.resolve() / "work")
    assert params["slices"] == {"index": 4}
    # a user class is encoded losslessly (jsonpickle), not as a plain JSON value
    from hpcflow import codec

    q = codec.decode(params["q"])
    assert type(q).__name__ == "Point" and (q.x, q.y) == (2.0, 5.0)
    report = out["artifacts"]["report"]
    assert os.path.isabs(report) and report == str(unit.resolve() / "work" / "report.txt")
    assert Path(report).read_text() == "2.0,5.0"
    assert leftover_temp_files(unit) == []


def test_function_op_success_with_default_and_envs(tmp_path: Path) -> None:
    t = PythonOPTemplate(add, envs={"HPCFLOW_TEST_ENV": "from-template"})
    unit = make_unit(tmp_path, t, parameters={"a": 5})
    assert read_task(unit)["op"] == {"module": __name__, "qualname": "add"}
    proc = run_units(unit)
    assert proc.returncode == 0, read_log(unit)
    assert read_exit(unit)["status"] == "succeeded"
    assert read_outputs(unit) == {
        "parameters": {"sum": 15, "env": "from-template"},
        "artifacts": {},
        "hashes": {},  # no output artifacts, so no content hashes
    }


def test_string_parameter_coerced_to_declared_type(tmp_path: Path) -> None:
    unit = make_unit(tmp_path, PythonOPTemplate(parse_list), parameters={"xs": "[1, 2, 3]"})
    run_units(unit)
    assert read_exit(unit)["status"] == "succeeded", read_log(unit)
    assert read_outputs(unit)["parameters"] == {"dflow_output": 6}


@pytest.mark.parametrize(
    ("how", "kind", "text"),
    [
        ("transient", "transient", "TransientError: the file server blinked"),
        ("fatal", "fatal", "FatalError: the input is nonsense"),
        ("value", "error", "ValueError: bad value 'value' in deep_helper"),
        ("keyerror", "error", "KeyError: 'no-such-key'"),
    ],
)
def test_op_exceptions_become_kinds(tmp_path: Path, how: str, kind: str, text: str) -> None:
    unit = make_unit(tmp_path, PythonOPTemplate(Raiser), parameters={"how": how})
    proc = run_units(unit)
    assert proc.returncode == 1
    record = assert_failed(unit, kind)
    assert record["message"] == text
    assert "Traceback (most recent call last)" in record["traceback"]
    assert "in execute" in record["traceback"] and text.split(":")[0] in record["traceback"]
    assert leftover_temp_files(unit) == []


def test_signature_error_in_job_is_kind_error(tmp_path: Path) -> None:
    unit = make_unit(tmp_path, PythonOPTemplate(Unchecked), parameters={"x": 3})
    run_units(unit)
    record = assert_failed(unit, "error")
    assert "OPSignatureError" in record["message"]
    assert "Unchecked" in record["message"] and "'y'" in record["message"]


def test_timeout_interrupts_the_op(tmp_path: Path) -> None:
    marker = tmp_path / "after-sleep.txt"
    t = PythonOPTemplate(Sleeper, timeout=1)
    unit = make_unit(tmp_path, t, parameters={"marker": str(marker), "seconds": 5.0})
    proc = run_units(unit)
    assert proc.returncode == 1
    record = assert_failed(unit, "timeout")
    assert "timeout" in record["message"]
    assert not marker.exists()


def test_timeout_in_pool_workers(tmp_path: Path) -> None:
    """Each forked pool worker gets its own alarm; a quick unit beside them still succeeds."""
    t = PythonOPTemplate(Sleeper, timeout=3)  # room for the quick unit on a loaded machine
    markers = [tmp_path / f"marker-{i}" for i in range(3)]
    seconds = [30.0, 0.05, 30.0]
    units = [
        make_unit(tmp_path, t, parameters={"marker": str(m), "seconds": s}, slice_index=i)
        for i, (m, s) in enumerate(zip(markers, seconds, strict=True))
    ]
    proc = run_units(*units, pool=3)
    assert proc.returncode == 1
    assert [read_exit(u)["kind"] for u in units] == ["timeout", None, "timeout"]
    assert [m.exists() for m in markers] == [False, True, False]


def test_without_timeout_the_same_op_completes(tmp_path: Path) -> None:
    """Control for the timeout test: the marker is written when the OP is not interrupted."""
    marker = tmp_path / "after-sleep.txt"
    unit = make_unit(
        tmp_path,
        PythonOPTemplate(Sleeper, timeout=10),
        parameters={"marker": str(marker), "seconds": 0.1},
    )
    run_units(unit)
    assert read_exit(unit)["status"] == "succeeded", read_log(unit)
    assert marker.read_text() == "slept to the end"


def _write_module(directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(
        textwrap.dedent("""
        from hpcflow.python import OP, OPIO, OPIOSign

        class Elsewhere(OP):
            @classmethod
            def get_output_sign(cls):
                return OPIOSign(where=str)

            @OP.exec_sign_check
            def execute(self, op_in):
                return OPIO(where=__name__)
    """)
    )


def test_unimportable_module_is_kind_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"vanishing_ops_{uuid.uuid4().hex[:8]}"
    mods = tmp_path / "mods"
    _write_module(mods, name)
    monkeypatch.syspath_prepend(str(mods))
    mod = __import__(name)
    try:
        unit = make_unit(tmp_path, PythonOPTemplate(mod.Elsewhere))
        assert read_task(unit)["op"] == {"module": name, "qualname": "Elsewhere"}
        proc = run_units(unit)  # the job's PYTHONPATH lacks tmp_path/mods
        assert proc.returncode == 1
        record = assert_failed(unit, "load")
        msg = record["message"]
        assert f"{name}.Elsewhere" in msg and "ModuleNotFoundError" in msg
        assert "Install the module where jobs run, or add it to python_packages" in msg
        assert sys.executable in msg
    finally:
        sys.modules.pop(name, None)


def test_python_packages_make_a_module_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"packaged_ops_{uuid.uuid4().hex[:8]}"
    mods = tmp_path / "mods"
    _write_module(mods, name)
    monkeypatch.syspath_prepend(str(mods))
    mod = __import__(name)
    try:
        unit = make_unit(tmp_path, PythonOPTemplate(mod.Elsewhere, python_packages=[str(mods)]))
        run_units(unit)
        assert read_exit(unit)["status"] == "succeeded", read_log(unit)
        assert read_outputs(unit)["parameters"] == {"where": name}
    finally:
        sys.modules.pop(name, None)


def test_missing_task_file_is_kind_load(tmp_path: Path) -> None:
    unit = tmp_path / "empty-unit"
    unit.mkdir()
    proc = run_units(unit)
    assert proc.returncode == 1
    record = assert_failed(unit, "load")
    assert "task.json" in record["message"] and "missing" in record["message"]


MAIN_SCRIPT = """
import sys
from pathlib import Path

from hpcflow.python import OP, OPIO, OPIOSign, PythonOPTemplate
from tests.helpers import make_unit

SUFFIX = "!"


class Greeter(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign(name=str)

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(greeting=str, module=str)

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO(greeting="hello " + op_in["name"] + SUFFIX, module=type(self).__module__)


@OP.function
def shout(s: str) -> str:
    return s.upper() + SUFFIX


out = Path(sys.argv[1])
units = [
    make_unit(out, PythonOPTemplate(Greeter), parameters={"name": "ada"}),
    make_unit(out, PythonOPTemplate(shout), parameters={"s": "hi"}),
]
print("\\n".join(str(u) for u in units))
"""


def test_op_defined_in_main_script_is_shipped_by_pickle(tmp_path: Path) -> None:
    script_dir = tmp_path / "user"
    script_dir.mkdir()
    script = script_dir / "my_workflow.py"
    script.write_text(MAIN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    made = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    units = [Path(line) for line in made.stdout.split()]
    assert len(units) == 2
    for unit in units:
        ref = read_task(unit)["op"]
        assert "module" not in ref and "pickle" not in ref
        assert Path(ref["pickle_file"]).is_file()
        assert ref["python"] == ".".join(map(str, sys.version_info[:3]))

    proc = run_units(*units)  # a separate process that cannot import my_workflow.py
    assert proc.returncode == 0, [read_log(u) for u in units]
    greeter, shout = (read_outputs(u)["parameters"] for u in units)
    assert greeter == {"greeting": "hello ada!", "module": "__main__"}
    assert shout == {"dflow_output": "HI!"}


def test_artifact_structures_reach_the_op_and_come_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "dir").mkdir(parents=True)
    (data / "dir" / "x.txt").write_text("x")
    (data / "dir" / "y.txt").write_text("y")
    files = {}
    for n in ("one", "c", "a", "b", "z", "m", "leaf"):
        files[n] = data / f"{n}.txt"
        files[n].write_text(n)
    arts = {
        "f": files["one"],
        "d": data / "dir",
        "s": files["one"],
        "lst": [files["c"], files["a"], files["b"]],
        "dct": {"z": files["z"], "m": files["m"]},
        "nested": {"inner": {"leaf": files["leaf"]}},
    }
    unit = make_unit(tmp_path, PythonOPTemplate(ArtifactOP), artifacts=arts)
    run_units(unit)
    assert read_exit(unit)["status"] == "succeeded", read_log(unit)
    out = read_outputs(unit)
    seen = out["parameters"]["seen"]
    path_type = type(Path()).__name__
    assert seen["f"] == [path_type, "one"]
    assert seen["d"] == [path_type, ["x.txt", "y.txt"]]
    assert seen["s"] == ["str", str(files["one"])]
    assert seen["lst"] == [[path_type, "c.txt"], [path_type, "a.txt"], [path_type, "b.txt"]]
    assert seen["dct"] == [["z", path_type, "z.txt"], ["m", path_type, "m.txt"]]
    assert seen["nested"] == path_type
    assert seen["missing"] is None

    arts_out = out["artifacts"]
    assert arts_out["out_f"] == str(files["one"])
    assert arts_out["out_lst"] == [str(files[n]) for n in ("c", "a", "b")]
    assert list(arts_out["out_dct"]) == ["z", "m"]
    assert arts_out["out_dct"] == {"z": str(files["z"]), "m": str(files["m"])}
    work = unit.resolve() / "work"
    assert arts_out["out_rel"] == str(work / "made" / "new.txt")
    assert arts_out["out_nested"] == {"a": {"b": str(work / "made")}, "c": str(files["one"])}


def test_str_typed_container_artifacts_arrive_as_str(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("f")
    unit = make_unit(
        tmp_path,
        PythonOPTemplate(StrArtifacts),
        artifacts={"ls": [f, f], "ds": {"k": f}, "sp": [f]},
    )
    run_units(unit)
    assert read_exit(unit)["status"] == "succeeded", read_log(unit)
    assert read_outputs(unit)["parameters"]["seen"] == {"ls": ["str"], "ds": ["str"], "sp": "set"}


def test_output_artifact_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    unit = make_unit(tmp_path, PythonOPTemplate(PhantomOutput))
    run_units(unit)
    record = assert_failed(unit, "error")
    assert "'result'" in record["message"] and "does not exist" in record["message"]
    assert "never-written.dat" in record["message"] and "PhantomOutput" in record["message"]


HOSTILE = 'it\'s "quoted" $(touch {m1}) `touch {m2}` a  b\nsecond line; rm -rf nothing \\ end'


def test_hostile_parameter_reaches_python_op_unchanged(tmp_path: Path) -> None:
    m1, m2 = tmp_path / "marker-dollar", tmp_path / "marker-backtick"
    value = HOSTILE.format(m1=m1, m2=m2)
    unit = make_unit(tmp_path, PythonOPTemplate(Echo), parameters={"text": value})
    run_units(unit)
    assert read_exit(unit)["status"] == "succeeded", read_log(unit)
    params = read_outputs(unit)["parameters"]
    assert params["text"] == value and params["length"] == len(value)
    assert not m1.exists() and not m2.exists()


# ----------------------------------------------------------------------------- groups


def test_group_with_pool_gives_each_unit_its_own_record(tmp_path: Path) -> None:
    t = PythonOPTemplate(Echo)
    units = [
        make_unit(tmp_path, t, parameters={"text": text}, slice_index=i)
        for i, text in enumerate(["alpha", "fail", "gamma"])
    ]
    proc = run_units(*units, pool=2)
    assert proc.returncode == 1  # one unit failed
    records = [read_exit(u) for u in units]
    assert [r["status"] for r in records] == ["succeeded", "failed", "succeeded"]
    assert records[1]["kind"] == "error" and "asked to fail" in records[1]["message"]
    assert read_outputs(units[0])["parameters"]["text"] == "alpha"
    assert read_outputs(units[2])["parameters"]["text"] == "gamma"
    assert not (units[1] / "outputs.json").exists()
    # each unit ran in its own worker process, not in the parent
    pids = {r["pid"] for r in records}
    assert len(pids) == 3
    for u in units:
        assert leftover_temp_files(u) == []


def test_group_serial_all_succeed(tmp_path: Path) -> None:
    t = PythonOPTemplate(Echo)
    units = [make_unit(tmp_path, t, parameters={"text": str(i)}) for i in range(3)]
    proc = run_units(*units)
    assert proc.returncode == 0
    assert [read_outputs(u)["parameters"]["text"] for u in units] == ["0", "1", "2"]
    assert len({read_exit(u)["pid"] for u in units}) == 1


def test_runtime_without_units_prints_usage() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hpcflow.runtime"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2 and "usage" in proc.stderr


# ----------------------------------------------------------------------------- scripts


def _script_io(tmp_path: Path) -> tuple[Path, Path, Inputs, Outputs]:
    """Absolute container-style paths that must be relocated under the work dir."""
    base = Path(f"/tmp/hpcflow-test-{uuid.uuid4().hex}")
    inputs = Inputs(
        parameters={"n": InputParameter(), "word": InputParameter(value="dflt")},
        artifacts={"inp": InputArtifact(path=f"{base}/in.txt")},
    )
    outputs = Outputs(
        parameters={"n2": OutputParameter(value_from_path=f"{base}/out/n2.txt")},
        artifacts={
            "copy": OutputArtifact(path=f"{base}/out/copy.txt"),
            "rel": OutputArtifact(path="results/rel.txt"),
        },
    )
    src = tmp_path / "input-file.txt"
    src.write_text("payload from artifact")
    return base, src, inputs, outputs


def assert_only_relocated(script_file: Path, base: Path) -> None:
    """Every mention of ``base`` in the script that ran was rewritten under the work dir."""
    text = script_file.read_text()
    relocated = str(script_file.parent.resolve() / "work") + str(base)
    assert relocated in text
    assert str(base) not in text.replace(relocated, "")


def _check_script_unit(unit: Path, base: Path) -> None:
    record = read_exit(unit)
    assert record["status"] == "succeeded", (record, read_log(unit))
    work = unit.resolve() / "work"
    out = read_outputs(unit)
    assert out["parameters"] == {"n2": "42 dflt"}  # surrounding whitespace/newlines trimmed
    copy = Path(out["artifacts"]["copy"])
    assert copy == work / str(base).lstrip("/") / "out" / "copy.txt"
    assert copy.read_text() == "payload from artifact"
    assert out["artifacts"]["rel"] == str(work / "results" / "rel.txt")
    assert not base.exists()  # nothing written to the real absolute path
    assert leftover_temp_files(unit) == []


def test_shell_template(tmp_path: Path) -> None:
    base, src, inputs, outputs = _script_io(tmp_path)
    script = textwrap.dedent(f"""\
        set -e
        test "$HPCFLOW_INPUT_n" = 42
        cat {base}/in.txt > {base}/out/copy.txt
        printf '  \\n %s %s \\n\\n' {{{{inputs.parameters.n}}}} {{{{inputs.parameters.word}}}} \\
            > {base}/out/n2.txt
        mkdir -p results && echo rel > results/rel.txt
    """)
    t = ShellOPTemplate(script=script, inputs=inputs, outputs=outputs)
    unit = make_unit(tmp_path, t, parameters={"n": 42, "word": "dflt"}, artifacts={"inp": src})
    proc = run_units(unit)
    assert proc.returncode == 0, read_log(unit)
    _check_script_unit(unit, base)
    assert_only_relocated(unit / "script.sh", base)


def test_python_script_template(tmp_path: Path) -> None:
    base, src, inputs, outputs = _script_io(tmp_path)
    script = textwrap.dedent(f"""\
        import os, pathlib
        assert os.environ["HPCFLOW_INPUT_n"] == "42"
        text = pathlib.Path("{base}/in.txt").read_text()
        pathlib.Path("{base}/out/copy.txt").write_text(text)
        n = {{{{inputs.parameters.n}}}}
        word = "{{{{inputs.parameters.word}}}}"
        pathlib.Path("{base}/out/n2.txt").write_text("\\n  %d %s\\n" % (n, word))
        pathlib.Path("results").mkdir(exist_ok=True)
        pathlib.Path("results/rel.txt").write_text("rel")
    """)
    t = PythonScriptOPTemplate(
        script=script, inputs=inputs, outputs=outputs, command=[sys.executable]
    )
    unit = make_unit(tmp_path, t, parameters={"n": 42, "word": "dflt"}, artifacts={"inp": src})
    proc = run_units(unit)
    assert proc.returncode == 0, read_log(unit)
    _check_script_unit(unit, base)
    assert_only_relocated(unit / "script.py", base)


@pytest.mark.parametrize(
    ("template_cls", "script", "command"),
    [
        (ShellOPTemplate, "echo about to fail\nexit 3\n", None),
        (
            PythonScriptOPTemplate,
            "import sys\nprint('about to fail')\nsys.exit(3)\n",
            [sys.executable],
        ),
    ],
)
def test_script_nonzero_exit_is_error(
    tmp_path: Path, template_cls: Any, script: str, command: list[str] | None
) -> None:
    t = template_cls(
        script=script,
        command=command,
        outputs=Outputs(parameters={"x": OutputParameter(value_from_path="x.txt")}),
    )
    unit = make_unit(tmp_path, t)
    proc = run_units(unit)
    assert proc.returncode == 1
    record = assert_failed(unit, "error")
    assert "code 3" in record["message"]
    assert "about to fail" in read_log(unit)
    assert leftover_temp_files(unit) == []


def test_script_missing_output_parameter_file_is_error(tmp_path: Path) -> None:
    t = ShellOPTemplate(
        script="true\n", outputs=Outputs(parameters={"x": OutputParameter(value_from_path="x.txt")})
    )
    unit = make_unit(tmp_path, t)
    run_units(unit)
    record = assert_failed(unit, "error")
    assert "'x'" in record["message"] and "x.txt" in record["message"]


def test_exit_record_is_valid_json_and_last(tmp_path: Path) -> None:
    unit = make_unit(tmp_path, PythonOPTemplate(Echo), parameters={"text": "x"})
    run_units(unit)
    exit_text = (unit / "exit.json").read_text()
    record = json.loads(exit_text)
    assert set(record) >= {"status", "kind", "message", "started_at", "finished_at", "host", "pid"}
    # small outputs are part of the exit record: one atomic write says success and what came out
    assert record["outputs"]["parameters"] and not (unit / "outputs.json").exists()


def test_large_outputs_go_to_their_own_file_before_the_exit_record(tmp_path: Path) -> None:
    big = "x" * (rec.INLINE_OUTPUTS_MAX + 10)
    unit = make_unit(tmp_path, PythonOPTemplate(Echo), parameters={"text": big})
    run_units(unit)
    record = read_exit(unit)
    assert record["status"] == "succeeded" and "outputs" not in record
    # outputs.json is complete before the exit record claims success
    assert (unit / "outputs.json").stat().st_mtime <= (unit / "exit.json").stat().st_mtime
    assert big in json.dumps(read_outputs(unit))


def test_nested_declared_paths_relocated_once(tmp_path: Path) -> None:
    base = Path(f"/tmp/hpcflow-test-{uuid.uuid4().hex}")
    t = ShellOPTemplate(
        script=f"mkdir -p {base}/out\necho 7 > {base}/out/v.txt\n",
        outputs=Outputs(
            parameters={"v": OutputParameter(value_from_path=f"{base}/out/v.txt")},
            artifacts={"dir": OutputArtifact(path=f"{base}/out")},
        ),
    )
    unit = make_unit(tmp_path, t)
    run_units(unit)
    assert read_exit(unit)["status"] == "succeeded", read_log(unit)
    assert read_outputs(unit)["parameters"] == {"v": "7"}
    assert_only_relocated(unit / "script.sh", base)
    assert not base.exists()
