import unittest
from pathlib import Path

from context import ON_SLURM  # noqa: F401
from dflow import Step, Workflow, download_artifact, upload_artifact
from minigen.op import PrepSquareTasks
from minigen.superop import PrepRunTasks
from mocked_ops import MockedRunTask


class TestPrepRun(unittest.TestCase):
    def test_prep_run_mocked(self):
        prep_run = PrepRunTasks("prep-run", PrepSquareTasks, MockedRunTask)
        wf = Workflow("prep-run-mocked")
        step = Step("prep-run", template=prep_run,
                    parameters={"block_id": "iter-000", "confs": [1.0, 2.0, 3.0],
                                "template": None, "run_config": {}})
        wf.add(step)
        wf.submit()
        # debug mode: the workflow has ended when submit() returns
        self.assertEqual(wf.query_status(), "Succeeded")
        got = wf.query_step(key="iter-000--run-0002")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].phase, "Succeeded")
        done = wf.query_step(name="prep-run")[0]
        self.assertEqual(done.outputs.parameters["task_names"].value, ["task.000", "task.001", "task.002"])
        paths = download_artifact(done.outputs.artifacts["results"], path="downloaded")
        self.assertEqual([float(Path(p).read_text()) for p in paths], [10.0, 20.0, 30.0])

    def test_init_model_passed_to_every_slice(self):
        Path("model.txt").write_text("0.5")
        prep_run = PrepRunTasks("prep-run", PrepSquareTasks, MockedRunTask)
        wf = Workflow("prep-run-init-model")
        wf.add(Step("prep-run", template=prep_run,
                    parameters={"block_id": "i", "confs": [1.0], "template": {}, "run_config": {}},
                    artifacts={"init_model": upload_artifact("model.txt")}))
        wf.submit()
        self.assertEqual(wf.query_status(), "Succeeded")
