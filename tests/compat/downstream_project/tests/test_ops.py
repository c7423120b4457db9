import os
import tempfile
import unittest
from pathlib import Path

from context import ON_SLURM  # noqa: F401  (sets debug mode, as the project's tests all do)
from dflow.python import OPIO
from dflow.utils import set_directory
from minigen.op import Collect, PrepSquareTasks, PrepTasks, Report, RunTask


class TestOps(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def test_prep_tasks_is_abstract(self):
        with self.assertRaises(TypeError):
            PrepTasks()

    def test_prep_and_run(self):
        with set_directory(self.dir):
            out = PrepSquareTasks().execute(OPIO({"confs": [2.0, 3.0], "template": None}))
            self.assertEqual(out["task_names"], ["task.000", "task.001"])
            run = RunTask().execute(OPIO({
                "task_name": "t0", "task_path": out["task_paths"][1], "init_model": None,
                "config": {}}))
            self.assertEqual(Path(run["result"]).read_text(), "9.0")
            self.assertEqual(run["log"].read_text(), "mode=plain\n")

    def test_collect_adds_to_previous_report(self):
        with set_directory(self.dir):
            Path("r").write_text("2.5")
            out = Collect().execute(OPIO({"results": [Path("r")], "previous": Report([1.0])}))
            self.assertEqual(out["total"], 3.5)
            self.assertEqual(os.path.basename(self.dir), Path.cwd().name)
