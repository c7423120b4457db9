"""Parameter values to and from JSON (jsonpickle for user classes), in one place.

Plain JSON values encode to themselves, so expressions (``len(x)``, ``x > 3``) work on the
stored form directly; user classes become jsonpickle dicts and are restored in the job.
Instances of classes defined in the submitting script (``__main__``), which a job cannot
import, are pickled by value (cloudpickle) leaf by leaf, so lists of them can still be sliced.
"""

from __future__ import annotations

import json
from typing import Any

from hpcflow.pathtypes import is_path


def encode(value: Any) -> Any:
    """Turn a Python value into a JSON-compatible structure (lossless for user classes)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if is_path(value):  # without importing pathlib (hpcflow.pathtypes)
        return str(value)
    if isinstance(value, (list, tuple)) and all(_is_plain(v) for v in value):
        return [encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) and _is_plain(v) for k, v in value.items()):
        return {k: encode(v) for k, v in value.items()}
    if _from_main(value):
        return _encode_by_value(value)
    import jsonpickle  # only user classes need it; jobs with plain values skip the import

    return jsonpickle.Pickler(unpicklable=True, keys=True).flatten(value)


def decode(data: Any) -> Any:
    """Inverse of :func:`encode`."""
    if _has_by_value(data):
        return _decode_by_value(data)
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


#: The key of a value pickled by value (never a jsonpickle tag, which all start with "py/").
BY_VALUE = "hpcflow/cloudpickle"


def _from_main(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds an instance of a class defined in ``__main__``."""
    if depth > 20:
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_from_main(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_from_main(v, depth + 1) for v in value.values())
    return getattr(type(value), "__module__", None) == "__main__"


def _encode_by_value(value: Any) -> Any:
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: encode(v) for k, v in value.items()}
    import base64

    import cloudpickle

    return {BY_VALUE: base64.b64encode(cloudpickle.dumps(value)).decode()}


def _has_by_value(data: Any) -> bool:
    if isinstance(data, dict):
        return BY_VALUE in data or any(_has_by_value(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_by_value(v) for v in data)
    return False


def _decode_by_value(data: Any) -> Any:
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict) and BY_VALUE in data:
        import base64
        import pickle

        return pickle.loads(base64.b64decode(data[BY_VALUE]))
    if isinstance(data, dict) and not any(k.startswith("py/") for k in data):
        return {k: decode(v) for k, v in data.items()}
    import jsonpickle

    return jsonpickle.Unpickler(keys=True).restore(data)


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
