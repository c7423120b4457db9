"""Bootstrap of the ``dflow`` alias (``hpcflow exec`` puts this directory on PYTHONPATH).

Importing it installs hpcflow's ``dflow`` finder and hands the import over to it, so that
``dflow`` and every ``dflow.x.y`` are served from :mod:`hpcflow.compat.surface`.
"""

import importlib
import sys

try:
    from hpcflow.compat import alias
except ImportError as exc:
    raise ImportError(
        f"`import dflow` is aliased to hpcflow (HPCFLOW_DFLOW_ALIAS), but {sys.executable} "
        "cannot import hpcflow: run the Python that hpcflow is installed in") from exc

alias.install(announce=True)  # also forgets this bootstrap module
importlib.import_module(__name__)  # now served by the finder; the import returns that module
