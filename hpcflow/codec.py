"""Parameter values to and from JSON (jsonpickle for user classes), in one place.

Plain JSON values encode to themselves, so expressions (``len(x)``, ``x > 3``) work on the
stored form directly; user classes become jsonpickle dicts and are restored in the job.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any


def encode(value: Any) -> Any:
    """Turn a Python value into a JSON-compatible structure (lossless for user classes)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)) and all(_is_plain(v) for v in value):
        return [encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) and _is_plain(v) for k, v in value.items()):
        return {k: encode(v) for k, v in value.items()}
    import jsonpickle  # only user classes need it; jobs with plain values skip the import

    return jsonpickle.Pickler(unpicklable=True, keys=True).flatten(value)


def decode(data: Any) -> Any:
    """Inverse of :func:`encode`."""
    if data is None or isinstance(data, (bool, int, float, str)) or not _has_pickle_tags(data):
        return data
    import jsonpickle

    return jsonpickle.Unpickler(keys=True).restore(data)


def _has_pickle_tags(data: Any) -> bool:
    if isinstance(data, dict):
        return any(k.startswith("py/") for k in data) or any(_has_pickle_tags(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_pickle_tags(v) for v in data)
    return False


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False



def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
