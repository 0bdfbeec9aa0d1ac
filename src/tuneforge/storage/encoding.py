"""How values are stored: trial parameters as JSON text, job records as JSON data, floats.

A parameter value is stored as ``json.dumps`` text, so ``1``, ``"1"``, ``1.0`` and ``True``
keep their types. The job document and the job's space are stored as JSON data, which has
no NaN or infinities: they are stored as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``, and dates as ISO text. Metric and trial values are SQL floats, where a NaN
is stored as NULL.

Example:
    >>> json_data({"low": float("-inf"), "values": (1, 2)})
    {'low': '-Infinity', 'values': [1, 2]}
    >>> dump_param("lr", 0.5), load_param("0.5")
    ('0.5', 0.5)
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import Any

from tuneforge.errors import StorageError

__all__ = ["dump_param", "float_or_none", "json_data", "load_param", "nan_if_none", "plain"]


def plain(value: Any) -> Any:
    """numpy scalars (which strategies may hand out) as the Python values they hold."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def dump_param(name: str, value: Any) -> str:
    """A parameter's value as JSON text; ``StorageError`` names a value JSON cannot hold."""
    try:
        return json.dumps(plain(value))
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"cannot store parameter {name!r}: its value {value!r} is a "
            f"{type(value).__name__}; expected a string, number, boolean or None."
        ) from exc


def load_param(text: str) -> Any:
    """A parameter's value from its JSON text (Python's NaN/Infinity tokens included)."""
    return json.loads(text)


def json_data(value: Any, path: str = "document", *, what: str = "the job document") -> Any:
    """``value`` as plain JSON data: non-finite floats as strings, dates as ISO text.

    ``what`` and ``path`` name the value in the error for anything else.
    """
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {
            str(key): json_data(item, f"{path}.{key}", what=what) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [json_data(item, f"{path}[{index}]", what=what) for index, item in enumerate(value)]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise StorageError(
        f"cannot store {what}: {path} is a {type(value).__name__} ({value!r}); "
        "expected JSON data (mappings, lists, strings, numbers, booleans or null)."
    )


def float_or_none(value: float) -> float | None:
    """NaN as NULL: SQLite would do it anyway, this makes every backend agree."""
    number = float(value)
    return None if math.isnan(number) else number


def nan_if_none(value: float | None) -> float:
    """A stored metric value: NULL was a NaN."""
    return math.nan if value is None else float(value)
