import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

from context import ON_SLURM
from dflow.plugins import bohrium  # noqa: F401  (imported at module level, as real projects do)
from minigen.entrypoint.submit import submit


def executor_config():
    Path("env.sh").write_text("export MINIGEN_SOURCED=yes\n")
    return {
        "type": "dispatcher",
        "machine_dict": {"batch_type": "Slurm", "context_type": "LocalContext"},
        "resources_dict": {
            "queue_name": "debug", "cpu_per_node": 1, "group_size": 2,
            "custom_flags": ["#SBATCH --mem=150M"],
            "envs": {"MINIGEN_EXECUTOR": "dispatcher"},
            "source_list": [str(Path("env.sh").resolve())],
        },
    }


class TestEntrypoint(unittest.TestCase):
    def test_two_iterations_with_a_dispatcher_executor(self):
        wf = submit({"name": "minigen-entry", "iterations": [[1.0, 2.0], [3.0]],
                     "template": {"scale": 2}, "run": {"executor": executor_config()}})
        self.assertEqual(wf.query_status(), "Succeeded")
        blocks = wf.query_step(name="blocks")[0]
        self.assertEqual(blocks.outputs.parameters["total"].value, [10.0, 18.0])
        per_block = blocks.outputs.parameters["envs"].value
        if ON_SLURM:  # group_size 2: the first iteration's two tasks shared one Slurm job
            self.assertEqual(per_block[0][0]["SLURM_JOB_ID"], per_block[0][1]["SLURM_JOB_ID"])
        envs = [e for block_envs in per_block for e in block_envs]
        self.assertEqual(len(envs), 3)
        for env in envs:
            self.assertEqual(env["MINIGEN_EXECUTOR"], "dispatcher")
            if ON_SLURM:  # the DPDispatcher resources reached the Slurm job
                self.assertTrue(env["SLURM_JOB_ID"])
                self.assertEqual(env["SLURM_JOB_PARTITION"], "debug")
                self.assertEqual(env["SLURM_MEM_PER_NODE"], "150")
                self.assertEqual(env["MINIGEN_SOURCED"], "yes")

    def test_command_line_entry_point(self):
        Path("input.json").write_text(json.dumps({"name": "minigen-cli", "iterations": [[2.0]]}))
        proc = subprocess.run([sys.executable, "-m", "minigen.entrypoint.submit", "input.json"],
                              capture_output=True, text=True, env=dict(os.environ))
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("Succeeded totals=[4.0]", proc.stdout)
