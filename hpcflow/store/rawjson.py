"""JSON text passed through unchanged between the store and the engine.

A node row's ``inputs`` is read as :class:`RawJson` when the engine loads a run (100,000
slices would otherwise be decoded into dicts nobody reads until a unit is launched or
woken), and :meth:`hpcflow.store.db.Store.save_nodes` writes a ``RawJson`` value as it is,
without encoding it again.
"""

from __future__ import annotations

import json
from typing import Any


class RawJson(str):
    """Text that already is the JSON of a value."""

    __slots__ = ()


def decode(text: RawJson) -> Any:
    return json.loads(text)
