"""Entry point: ``python -m hpcflow.runtime [--pool N] UNIT_DIR [UNIT_DIR ...]``.

Exit status 0 when every unit succeeded, 1 otherwise (the exit records say which and why).
"""

from __future__ import annotations

import sys

from hpcflow.runtime.group import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
