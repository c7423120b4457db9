from .collect import Collect, Report
from .prep_tasks import PrepSquareTasks, PrepTasks
from .run_task import RunTask

__all__ = ["Collect", "PrepSquareTasks", "PrepTasks", "Report", "RunTask"]
