"""Entry point: ``python -m hpcflow.runtime [--pool N] UNIT_DIR [UNIT_DIR ...]``.

Exit status 0 when every unit succeeded, 1 otherwise (the exit records say which and why).
A Slurm job without a shell (``hpcflow.scheduler.slurm.python_script``) calls
:func:`hpcflow.runtime.group.run_job` itself.
"""

from __future__ import annotations

import sys

from hpcflow.runtime.group import run_job

if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1:]))
