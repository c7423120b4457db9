from .block import Block
from .prep_run import PrepRunTasks

__all__ = ["Block", "PrepRunTasks"]
