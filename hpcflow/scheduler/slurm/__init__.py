"""The Slurm backend: argv builders, one script template, pure parsers, one state table."""

from hpcflow.scheduler.slurm.backend import COMMAND_COUNTS, SlurmScheduler, reset_command_counts

__all__ = ["COMMAND_COUNTS", "SlurmScheduler", "reset_command_counts"]
