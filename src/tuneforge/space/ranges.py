"""Read a cloud tuning job's ``ParameterRanges`` JSON into a ``SearchSpace``.

The API writes numbers as strings (``"MinValue": "0.0001"``); plain JSON numbers are
accepted too. Accepted shapes: the ``ParameterRanges`` object itself, an object holding
it under ``ParameterRanges``, or a whole tuning job definition
(``HyperParameterTuningJobConfig.ParameterRanges``), whose
``TrainingJobDefinition.StaticHyperParameters`` become the space's static values.

Scaling types: ``Linear`` and ``Auto`` give a uniform range (tuneforge has no automatic
choice to make), ``Logarithmic`` a log-uniform one. ``ReverseLogarithmic`` (log-uniform in
``1 - x``) is refused with a ``ConfigError``: a ``Float`` cannot sample that way yet.
Categorical values are kept as given, so the API's strings stay strings.

Example:
    >>> space = read_parameter_ranges({
    ...     "ContinuousParameterRanges": [
    ...         {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1",
    ...          "ScalingType": "Logarithmic"},
    ...     ],
    ...     "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}],
    ... })
    >>> space.names, space["lr"].log
    (['lr', 'opt'], True)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space.parameters import Categorical, Float, Int, Parameter
from tuneforge.space.search_space import SearchSpace

RANGE_KINDS = ("ContinuousParameterRanges", "IntegerParameterRanges", "CategoricalParameterRanges")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
_NUMERIC_KEYS = ("Name", "MinValue", "MaxValue", "ScalingType")
_CATEGORICAL_KEYS = ("Name", "Values")
_NUMBER_RE = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_INTEGER_RE = re.compile(r"[+-]?\d+")


def read_parameter_ranges(data: Mapping[str, Any] | str, *, source: str = "<json>") -> SearchSpace:
    """Build a ``SearchSpace`` from ``ParameterRanges`` (a mapping or JSON text).

    Every problem is collected and raised together as one ``ConfigError`` whose lines
    name the field (``ContinuousParameterRanges[0].MinValue``), the value and what is valid.
    """
    if isinstance(data, str):
        data = _load_json(data, source)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a JSON object holding ParameterRanges, got {_kind(data)}."
        )
    ranges, path, static = _locate(data, source)
    problems: list[str] = []
    parameters: dict[str, Parameter] = {}
    first_seen: dict[str, str] = {}
    for kind in RANGE_KINDS:
        entries = ranges.get(kind)
        if entries is None:
            continue
        if not isinstance(entries, list):
            problems.append(
                f"{source}: {path}{kind}: expected a list of ranges, got {_kind(entries)}."
            )
            continue
        for i, entry in enumerate(entries):
            where = f"{path}{kind}[{i}]"
            try:
                name, parameter = _read_range(kind, entry, where)
            except ConfigError as exc:
                problems.extend(f"{source}: {p}" for p in exc.problems)
                continue
            if name in first_seen:
                problems.append(
                    f"{source}: {where}.Name: duplicate name '{name}' (also {first_seen[name]})."
                )
                continue
            first_seen[name] = where
            parameters[name] = parameter
    if problems:
        raise ConfigError(problems)
    if not parameters:
        raise ConfigError(
            f"{source}: {path or 'ParameterRanges'} defines no ranges; add entries to "
            f"{', '.join(RANGE_KINDS)}."
        )
    try:
        return SearchSpace(parameters, static=static)
    except SpaceError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})."
        ) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise ConfigError(f"{source}: not valid JSON ({exc}).") from None
    except RecursionError:
        raise ConfigError(f"{source}: the JSON nests too deeply to read.") from None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    for cls, label in names.items():
        if isinstance(value, cls):
            return f"{label} {_short(value)}"
    return f"{type(value).__name__} {_short(value)}"


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long for Python to print
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= 60 else text[:60] + "..."


def _locate(data: Mapping[str, Any], source: str) -> tuple[Mapping[str, Any], str, dict[str, Any]]:
    """Find the ranges (and any static values) in the shapes the API uses."""
    static: dict[str, Any] = {}
    if "HyperParameterTuningJobConfig" in data:
        config = data["HyperParameterTuningJobConfig"]
        if not isinstance(config, Mapping) or "ParameterRanges" not in config:
            raise ConfigError(
                f"{source}: HyperParameterTuningJobConfig: expected an object with "
                f"ParameterRanges, got {_kind(config)}."
            )
        ranges, path = config["ParameterRanges"], "HyperParameterTuningJobConfig.ParameterRanges."
        static = _static(data.get("TrainingJobDefinition"), source)
    elif "ParameterRanges" in data:
        ranges, path = data["ParameterRanges"], "ParameterRanges."
        static = _static(data.get("TrainingJobDefinition"), source)
    else:
        ranges, path = data, ""
    if not isinstance(ranges, Mapping):
        where = path.rstrip(".") or "ParameterRanges"
        raise ConfigError(f"{source}: {where}: expected an object, got {_kind(ranges)}.")
    unknown = sorted(str(key) for key in ranges if key not in RANGE_KINDS)
    if unknown:
        raise ConfigError(
            f"{source}: {path}{unknown[0]}: unknown key(s) {unknown}; valid keys: "
            f"{', '.join(RANGE_KINDS)} (or a tuning job with "
            f"HyperParameterTuningJobConfig.ParameterRanges)."
        )
    return ranges, path, static


def _static(definition: Any, source: str) -> dict[str, Any]:
    if definition is None:
        return {}
    if not isinstance(definition, Mapping):
        raise ConfigError(
            f"{source}: TrainingJobDefinition: expected an object, got {_kind(definition)}."
        )
    values = definition.get("StaticHyperParameters")
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"{source}: TrainingJobDefinition.StaticHyperParameters: expected an object of "
            f"name to value, got {_kind(values)}."
        )
    for name, value in values.items():
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(
                f"{source}: TrainingJobDefinition.StaticHyperParameters.{name}: expected a "
                f"string or number, got {_kind(value)}."
            )
    return {str(name): value for name, value in values.items()}


def _read_range(kind: str, entry: Any, where: str) -> tuple[str, Parameter]:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected an object with a Name, got {_kind(entry)}.")
    valid = _CATEGORICAL_KEYS if kind == "CategoricalParameterRanges" else _NUMERIC_KEYS
    unknown = sorted(str(key) for key in entry if key not in valid)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(valid)}.")
    missing = [key for key in valid if key not in entry and key != "ScalingType"]
    if missing:
        raise ConfigError(
            [f"{where}.{key}: missing; every {kind} entry needs it." for key in missing]
        )
    name = entry["Name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.Name: expected a non-empty string, got {_kind(name)}.")
    try:
        if kind == "CategoricalParameterRanges":
            return name, _categorical(entry["Values"], where)
        return name, _numeric(kind, entry, where)
    except SpaceError as exc:
        field = {"low": "MinValue", "high": "MaxValue", "values": "Values"}.get(exc.field or "", "")
        message = str(exc)
        for prefix in ("Float: ", "Int: ", "Categorical: "):
            message = message.removeprefix(prefix)
        raise ConfigError(f"{where}{'.' + field if field else ''}: {message}") from None


def _numeric(kind: str, entry: Mapping[str, Any], where: str) -> Parameter:
    integer = kind == "IntegerParameterRanges"
    low = _number(entry["MinValue"], f"{where}.MinValue", integer)
    high = _number(entry["MaxValue"], f"{where}.MaxValue", integer)
    scaling = entry.get("ScalingType", "Auto")
    if scaling not in SCALING_TYPES:
        raise ConfigError(
            f"{where}.ScalingType: expected one of {', '.join(SCALING_TYPES)}, "
            f"got {_short(scaling)}."
        )
    if scaling == "ReverseLogarithmic":
        raise ConfigError(
            f"{where}.ScalingType: ReverseLogarithmic is not supported yet; use Linear or "
            f"Logarithmic (or tune 1 - x on a Logarithmic range)."
        )
    if not low < high:
        raise ConfigError(
            f"{where}: MinValue must be less than MaxValue, got MinValue={entry['MinValue']!r}, "
            f"MaxValue={entry['MaxValue']!r}."
        )
    log = scaling == "Logarithmic"
    if log and low <= 0:
        raise ConfigError(
            f"{where}.MinValue: Logarithmic scaling needs MinValue > 0, got {entry['MinValue']!r}."
        )
    return Int(int(low), int(high), log=log) if integer else Float(low, high, log=log)


def _number(value: Any, where: str, integer: bool) -> float:
    """``value`` as a finite number (an ``int`` when ``integer``), or a ``ConfigError``."""
    what = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f'{where}: expected {what} (such as "10" or 10), got {_kind(value)}.')
    if isinstance(value, str) and not _NUMBER_RE.fullmatch(value):
        raise ConfigError(f'{where}: expected {what} (such as "10" or 10), got {_short(value)}.')
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{where}: expected a finite number, got {_short(value)}.")
    if not integer:
        return number
    if not number.is_integer():
        raise ConfigError(f"{where}: expected an integer, got {_short(value)}.")
    # Whole-number text is read exactly: a float would round ids above 2**53.
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_RE.fullmatch(value.strip()):
        return int(value.strip())
    return int(number)


def _categorical(values: Any, where: str) -> Parameter:
    if not isinstance(values, list) or not values:
        raise ConfigError(
            f"{where}.Values: expected a non-empty list of values, got {_kind(values)}."
        )
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(
                f"{where}.Values[{i}]: expected a string or a number, got {_kind(value)}."
            )
    return Categorical(values)
