"""Dflow's semantics where hpcflow once differed, each written the way Dflow code writes it
and run as a user runs it: ``hpcflow exec -- python wf.py`` in a fresh directory."""

from __future__ import annotations

from pathlib import Path

from tests.compat.scripts import explain, run_dflow_script


def assert_ok(tmp_path: Path, source: str) -> str:
    proc = run_dflow_script(tmp_path, source)
    assert proc.returncode == 0 and "SCRIPT-OK" in proc.stdout, explain(proc)
    return proc.stdout


def test_op_is_an_abc_with_abstract_methods(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        from abc import ABC, abstractmethod
        from dflow import Step, Workflow
        from dflow.config import config
        from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate

        config["mode"] = "debug"

        class PrepFp(OP, ABC):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({"n": int})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"tasks": list})

            @abstractmethod
            def prep_task(self, i):
                pass

            @OP.exec_sign_check
            def execute(self, ip):
                return OPIO({"tasks": [self.prep_task(i) for i in range(ip["n"])]})

        class PrepVasp(PrepFp):
            def prep_task(self, i):
                return "vasp-%d" % i

        try:
            PrepFp()
        except TypeError as exc:
            assert "abstract" in str(exc)
        else:
            raise SystemExit("an OP with an abstract method was instantiated")

        wf = Workflow("abc-op")
        wf.add(Step("prep", PythonOPTemplate(PrepVasp), parameters={"n": 2}))
        wf.submit()
        step = wf.query_step(name="prep")[0]
        assert step.outputs.parameters["tasks"].value == ["vasp-0", "vasp-1"], step.outputs.parameters
        print("SCRIPT-OK")
    ''')


def test_slices_python_expression_around_item(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        from pathlib import Path
        from typing import List
        from dflow import Step, Workflow, argo_len, argo_sequence, upload_artifact
        from dflow.config import config
        from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate, Slices

        config["mode"] = "debug"

        class Train(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({"task_name": str, "task_path": Artifact(Path)})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"model": Artifact(Path)})

            @OP.exec_sign_check
            def execute(self, ip):
                out = Path("model.txt")
                out.write_text(ip["task_name"] + ":" + ip["task_path"].read_text())
                return OPIO({"model": out})

        paths = []
        for i in range(3):
            Path("task.%03d" % i).write_text("data%d" % i)
            paths.append("task.%03d" % i)
        names = ["task.%03d" % i for i in range(3)]
        wf = Workflow("slice-expr")
        wf.add(Step(
            "run-train",
            PythonOPTemplate(Train, slices=Slices("int('{{item}}')", input_parameter=["task_name"],
                                                  input_artifact=["task_path"], output_artifact=["model"])),
            parameters={"task_name": names},
            artifacts={"task_path": upload_artifact(paths)},
            with_sequence=argo_sequence(argo_len(names), format="%04d"),
            key="run-train-{{item}}",
        ))
        wf.submit()
        assert wf.query_status() == "Succeeded"
        keys = sorted(s.key for s in wf.query_step(name="run-train") if s.key and s.type == "Pod")
        assert keys == ["run-train-0000", "run-train-0001", "run-train-0002"], keys
        models = wf.query_step(name="run-train")[0].outputs.artifacts["model"].value
        texts = [Path(m).read_text() for m in models]
        assert texts == ["task.000:data0", "task.001:data1", "task.002:data2"], texts
        print("SCRIPT-OK")
    ''')


def test_none_for_typed_and_big_parameters_and_unset_optional_artifact(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        from pathlib import Path
        from typing import List, Optional
        from dflow import (InputArtifact, InputParameter, Inputs, OutputParameter, Outputs, Step,
                           Steps, Workflow)
        from dflow.config import config
        from dflow.python import OP, OPIO, Artifact, BigParameter, OPIOSign, PythonOPTemplate

        config["mode"] = "debug"

        class RunFp(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({
                    "config": dict,
                    "report": BigParameter(dict),
                    "init_model": Artifact(Path, optional=True),
                    "extra": Artifact(List[Path], optional=True),
                })

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"seen": str})

            @OP.exec_sign_check
            def execute(self, ip):
                seen = [ip["config"] is None, ip["report"] is None, ip["init_model"] is None,
                        ip["extra"] is None]
                return OPIO({"seen": ",".join(map(str, seen))})

        class PrepRunFp(Steps):
            def __init__(self, name):
                super().__init__(name, inputs=Inputs(
                    parameters={"config": InputParameter(), "report": InputParameter()},
                    artifacts={"init_model": InputArtifact(optional=True)}),
                    outputs=Outputs(parameters={"seen": OutputParameter()}))
                run = Step("run-fp", PythonOPTemplate(RunFp),
                           parameters={"config": self.inputs.parameters["config"],
                                       "report": self.inputs.parameters["report"]},
                           artifacts={"init_model": self.inputs.artifacts["init_model"], "extra": None})
                self.add(run)
                self.outputs.parameters["seen"].value_from_parameter = run.outputs.parameters["seen"]

        wf = Workflow("none-values")
        wf.add(Step("prep-run-fp", PrepRunFp("prep-run-fp-tmpl"),
                    parameters={"config": None, "report": None}))
        wf.submit()
        assert wf.query_status() == "Succeeded", wf.query_status()
        seen = wf.query_step(name="run-fp")[0].outputs.parameters["seen"].value
        assert seen == "True,True,True,True", seen
        print("SCRIPT-OK")
    ''')


def test_artifact_types_no_stricter_than_dflow(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        from pathlib import Path
        from typing import List, Union
        from dflow import Step, Workflow
        from dflow.config import config
        from dflow.python import (OP, OPIO, Artifact, HDF5Datasets, NestedDict, OPIOSign,
                                  PythonOPTemplate)

        config["mode"] = "debug"

        class Explore(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"trajs": Artifact(Path), "tree": Artifact(NestedDict[Path])})

            @OP.exec_sign_check
            def execute(self, ip):
                files = []
                for i in range(2):
                    Path("traj%d" % i).write_text("t%d" % i)
                    files.append(Path("traj%d" % i))
                return OPIO({"trajs": files, "tree": {"a": files, "b": {"c": files[0]}}})

        class Select(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({"trajs": Artifact(Union[List[Path], HDF5Datasets]),
                                 "tree": Artifact(NestedDict[Path])})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"n": int, "text": str})

            @OP.exec_sign_check
            def execute(self, ip):
                text = "".join(Path(p).read_text() for p in ip["trajs"])
                return OPIO({"n": len(ip["trajs"]), "text": text})

        wf = Workflow("lenient-artifacts")
        explore = Step("explore", PythonOPTemplate(Explore))
        wf.add(explore)
        wf.add(Step("select", PythonOPTemplate(Select), artifacts={
            "trajs": explore.outputs.artifacts["trajs"], "tree": explore.outputs.artifacts["tree"]}))
        wf.submit()
        assert wf.query_status() == "Succeeded", wf.query_status()
        out = wf.query_step(name="select")[0].outputs.parameters
        assert out["n"].value == 2 and out["text"].value == "t0t1", (out["n"].value, out["text"].value)
        print("SCRIPT-OK")
    ''')


def test_sliced_super_op(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        from dflow import (InputParameter, Inputs, OutputArtifact, OutputParameter, Outputs, Step,
                           Steps, Workflow)
        from dflow.config import config
        from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate, Slices
        from pathlib import Path

        config["mode"] = "debug"

        class Square(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({"x": int})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"y": int, "f": Artifact(Path)})

            @OP.exec_sign_check
            def execute(self, ip):
                Path("f.txt").write_text(str(ip["x"] ** 2))
                return OPIO({"y": ip["x"] ** 2, "f": Path("f.txt")})

        class SquareBlock(Steps):
            def __init__(self, name):
                super().__init__(name, inputs=Inputs(parameters={"x": InputParameter(type=int)}),
                                 outputs=Outputs(parameters={"y": OutputParameter()},
                                                 artifacts={"f": OutputArtifact()}))
                sq = Step("square", PythonOPTemplate(Square), parameters={"x": self.inputs.parameters["x"]})
                self.add(sq)
                self.outputs.parameters["y"].value_from_parameter = sq.outputs.parameters["y"]
                self.outputs.artifacts["f"]._from = sq.outputs.artifacts["f"]

        wf = Workflow("sliced-super-op")
        block = Step("blocks", template=SquareBlock("square-block"), parameters={"x": [1, 2, 3]},
                     slices=Slices(input_parameter=["x"], output_parameter=["y"], output_artifact=["f"]))
        wf.add(block)
        wf.submit()
        assert wf.query_status() == "Succeeded", wf.query_status()
        outs = wf.query_step(name="blocks")[0].outputs
        assert outs.parameters["y"].value == [1, 4, 9], outs.parameters["y"].value
        assert [Path(f).read_text() for f in outs.artifacts["f"].value] == ["1", "4", "9"]
        print("SCRIPT-OK")
    ''')


def test_indexing_a_parameter_with_a_missing_key(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        from dflow import InputParameter, Inputs, Step, Steps, Workflow
        from dflow.config import config
        from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate

        config["mode"] = "debug"

        class Train(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({"finetune_mode": str})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"mode": str})

            @OP.exec_sign_check
            def execute(self, ip):
                return OPIO({"mode": repr(ip["finetune_mode"])})

        steps = Steps("block", inputs=Inputs(parameters={"opt": InputParameter()}))
        mode = steps.inputs.parameters["opt"]["finetune_mode"]
        steps.add(Step("train", PythonOPTemplate(Train), parameters={"finetune_mode": mode}))
        steps.add(Step("finetune", PythonOPTemplate(Train), parameters={"finetune_mode": mode},
                       when="%s == 'finetune'" % mode))
        wf = Workflow("missing-key")
        wf.add(Step("block", steps, parameters={"opt": {"numb_steps": 10}}))
        wf.submit()
        assert wf.query_status() == "Succeeded", wf.query_status()
        assert wf.query_step(name="train")[0].outputs.parameters["mode"].value == "None"
        assert wf.query_step(name="finetune")[0].phase == "Skipped"
        print("SCRIPT-OK")
    ''')


def test_main_class_instances_reach_the_op_as_instances(tmp_path: Path) -> None:
    assert_ok(tmp_path, MAIN_CLASS_SCRIPT)


#: Shared with the Slurm test (tests/slurm/test_slurm_dflow_compat.py).
MAIN_CLASS_SCRIPT = '''
    from typing import List
    from dflow import Step, Workflow
    from dflow.config import config
    from dflow.python import OP, OPIO, BigParameter, OPIOSign, PythonOPTemplate, Slices

    config["mode"] = "debug"

    class Conf:
        def __init__(self, temp):
            self.temp = temp

    class Heat(OP):
        @classmethod
        def get_input_sign(cls):
            return OPIOSign({"conf": Conf, "big": BigParameter(Conf)})

        @classmethod
        def get_output_sign(cls):
            return OPIOSign({"conf": Conf})

        @OP.exec_sign_check
        def execute(self, ip):
            assert isinstance(ip["conf"], Conf) and isinstance(ip["big"], Conf)
            return OPIO({"conf": Conf(ip["conf"].temp + ip["big"].temp)})

    wf = Workflow("main-classes")
    heat = Step("heat", PythonOPTemplate(Heat, slices=Slices(input_parameter=["conf"], output_parameter=["conf"])),
                parameters={"conf": [Conf(100), Conf(200)], "big": Conf(1)})
    wf.add(heat)
    again = Step("again", PythonOPTemplate(Heat),
                 parameters={"conf": Conf(5), "big": Conf(1)})
    wf.add(again)
    wf.submit()
    assert wf.query_status() == "Succeeded", [(s.name, s.phase, s.message) for s in wf.query_step()]
    confs = wf.query_step(name="heat")[0].outputs.parameters["conf"].value
    assert [type(c).__name__ for c in confs] == ["Conf", "Conf"], confs
    assert all(isinstance(c, Conf) for c in confs) and [c.temp for c in confs] == [101, 201]
    print("SCRIPT-OK")
'''


def test_step_made_inside_with_blocks_is_added(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        from dflow import Step, Steps, Workflow
        from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate

        class Echo(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({"msg": str})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"msg": str})

            @OP.exec_sign_check
            def execute(self, ip):
                return OPIO({"msg": ip["msg"] + "!"})

        with Steps("inner") as inner:
            first = Step("first", PythonOPTemplate(Echo), parameters={"msg": "a"})
            Step("second", PythonOPTemplate(Echo), parameters={"msg": first.outputs.parameters["msg"]})
        with Workflow("with-blocks") as wf:
            Step("hello", PythonOPTemplate(Echo), parameters={"msg": "hi"})
            Step("nested", inner)
        assert wf.wait() == "Succeeded"
        names = sorted(s.name for s in wf.query_step() if s.type == "Pod")
        assert names == ["first", "hello", "second"], names
        assert wf.query_step(name="second")[0].outputs.parameters["msg"].value == "a!!"
        print("SCRIPT-OK")
    ''')


def test_debug_mode_submit_returns_when_the_workflow_has_ended(tmp_path: Path) -> None:
    assert_ok(tmp_path, '''
        import time
        from dflow import Step, Workflow
        from dflow.config import config
        from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate

        config["mode"] = "debug"

        class Slow(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"done": str})

            @OP.exec_sign_check
            def execute(self, ip):
                time.sleep(1.5)
                return OPIO({"done": "yes"})

        wf = Workflow("debug-submit")
        wf.add(Step("slow", PythonOPTemplate(Slow)))
        wf.submit()
        step = wf.query_step(name="slow")[0]  # read right after submit, as Dflow scripts do
        assert step.phase == "Succeeded", step.phase
        assert step.outputs.parameters["done"].value == "yes"
        print("SCRIPT-OK")
    ''')
