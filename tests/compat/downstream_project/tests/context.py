"""As Dflow projects do: the tests run the workflows in Dflow's debug mode."""

import os

from dflow import config

config["mode"] = "debug"
#: Set when hpcflow's suite runs these tests on its Slurm test cluster.
ON_SLURM = bool(os.environ.get("HPCFLOW_SITE"))
