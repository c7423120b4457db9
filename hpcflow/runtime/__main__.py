"""Entry point: ``python -m hpcflow.runtime [--pool N] UNIT_DIR [UNIT_DIR ...]``.

Exit status 0 when every unit succeeded, 1 otherwise (the exit records say which and why).
"""

from __future__ import annotations

import gc
import sys

from hpcflow.runtime.group import main

if __name__ == "__main__":
    # Everything imported so far lives until the process ends: frozen, the OP's own
    # collections do not walk it again.
    gc.freeze()
    code = main(sys.argv[1:])
    # The records are written. The interpreter's teardown still clears the modules, closes
    # files and runs atexit; frozen, its final collections skip every object the imports
    # and the units made: ~3.5 ms of CPU per task (bench/README.md), paid by every slice.
    gc.freeze()
    sys.exit(code)
