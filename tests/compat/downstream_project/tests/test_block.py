import unittest

from context import ON_SLURM  # noqa: F401
from dflow import Step, Workflow
from minigen.op import PrepSquareTasks, Report
from minigen.superop import Block, PrepRunTasks
from mocked_ops import MockedRunTask


def block_workflow(name, optional_parameter, previous=None):
    block = Block("block", PrepRunTasks("prep-run", PrepSquareTasks, MockedRunTask))
    wf = Workflow(name)
    wf.add(Step("block", template=block,
                parameters={"block_id": "iter-000", "confs": [1.0, 2.0], "template": {},
                            "run_config": {}, "optional_parameter": optional_parameter,
                            "previous": previous}))
    wf.submit()
    return wf


class TestBlock(unittest.TestCase):
    def test_optional_parameter_without_finetune_key(self):
        wf = block_workflow("block-plain", {"mode": "plain"})
        self.assertEqual(wf.query_status(), "Succeeded")
        self.assertEqual(wf.query_step(name="finetune")[0].phase, "Skipped")
        collect = wf.query_step(key="iter-000--collect")[0]
        self.assertEqual(collect.outputs.parameters["total"].value, 30.0)
        report = collect.outputs.parameters["report"].value
        self.assertIsInstance(report, Report)
        self.assertEqual(report.values, [10.0, 20.0])

    def test_finetune_runs_when_asked(self):
        wf = block_workflow("block-finetune", {"mode": "ft", "finetune_mode": "finetune"},
                            previous=Report([1.0]))
        self.assertEqual(wf.query_status(), "Succeeded")
        self.assertEqual(wf.query_step(name="finetune")[0].phase, "Succeeded")
        total = wf.query_step(key="iter-000--collect")[0].outputs.parameters["total"].value
        self.assertEqual(total, 31.0)
