"""Dflow compatibility: the ``dflow`` alias and Dflow's names that hpcflow's own API lacks.

Nothing else in hpcflow imports this package. ``hpcflow exec -- CMD`` (or
``HPCFLOW_DFLOW_ALIAS=1`` with :data:`hpcflow.compat.alias.BOOT_DIR` on ``PYTHONPATH``)
makes ``import dflow`` and ``from dflow.x.y import ...`` resolve to hpcflow; the module
layout and every public name of pydflow are listed in :mod:`hpcflow.compat.surface`.
"""

from __future__ import annotations

from hpcflow.compat.alias import ENV_VAR, active, install

__all__ = ["ENV_VAR", "active", "install"]
