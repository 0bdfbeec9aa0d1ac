"""Read a search space from the job file's ``parameters`` / ``static`` / ``forbidden`` mappings.

Every problem is reported with its field path (``parameters.lr.low``), the value and what
would be valid; all problems are collected before raising, so one run shows them all.

Example:
    >>> space = space_from_mapping({
    ...     "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
    ...     "optimizer": {"type": "categorical", "values": ["sgd", "adam"]},
    ...     "momentum": {"type": "float", "low": 0, "high": 0.99, "when": {"optimizer": "sgd"}},
    ... })
    >>> space.names
    ['lr', 'optimizer', 'momentum']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space.conditions import Condition, condition_from_mapping
from tuneforge.space.parameters import Categorical, Float, Int, Parameter
from tuneforge.space.search_space import SearchSpace

PARAMETER_TYPES = ("float", "int", "categorical", "ordinal")
_KEYS = {
    "float": {"type", "low", "high", "log", "default", "when"},
    "int": {"type", "low", "high", "log", "default", "when"},
    "categorical": {"type", "values", "default", "when"},
    "ordinal": {"type", "values", "default", "when"},
}


def parameter_from_mapping(entry: Any, path: str) -> Parameter:
    """One ``parameters`` entry; a bare list is shorthand for a categorical."""
    if isinstance(entry, list):
        entry = {"type": "categorical", "values": entry}
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{path}: expected a mapping such as {{type: float, low: 0.0, high: 1.0}} or a list "
            f"of values, got {entry!r}."
        )
    kind = entry.get("type")
    if kind not in PARAMETER_TYPES:
        raise ConfigError(
            f"{path}.type: expected one of {', '.join(PARAMETER_TYPES)}, got {kind!r}."
        )
    unknown = sorted(set(entry) - _KEYS[kind])
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {unknown} for a {kind} parameter; valid keys: "
            f"{sorted(_KEYS[kind])}."
        )
    problems = []
    for key in ("low", "high") if kind in ("float", "int") else ("values",):
        if key not in entry:
            problems.append(f"{path}.{key}: missing; a {kind} parameter needs '{key}'.")
    if problems:
        raise ConfigError(problems)
    when: Condition | None = None
    if entry.get("when") is not None:
        try:
            when = condition_from_mapping(entry["when"], field=f"{path}.when")
        except SpaceError as exc:
            raise ConfigError(str(exc)) from None
    try:
        if kind == "float":
            return Float(
                entry["low"],
                entry["high"],
                log=_flag(entry, "log", path),
                default=entry.get("default"),
                when=when,
            )
        if kind == "int":
            return Int(
                entry["low"],
                entry["high"],
                log=_flag(entry, "log", path),
                default=entry.get("default"),
                when=when,
            )
        return Categorical(
            entry["values"], ordered=kind == "ordinal", default=entry.get("default"), when=when
        )
    except SpaceError as exc:
        where = f"{path}.{exc.field}" if exc.field else path
        raise ConfigError(f"{where}: {_strip_kind(str(exc))}") from None


def _flag(entry: Mapping[str, Any], key: str, path: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}: expected true or false, got {value!r}.")
    return value


def _strip_kind(message: str) -> str:
    for kind in ("Float: ", "Int: ", "Categorical: "):
        if message.startswith(kind):
            return message[len(kind) :]
    return message


def space_from_mapping(
    parameters: Mapping[str, Any],
    *,
    static: Mapping[str, Any] | None = None,
    forbidden: Sequence[Any] = (),
    path: str = "parameters",
) -> SearchSpace:
    """Build a ``SearchSpace`` from job-file mappings; ``ConfigError`` lists every problem."""
    if not isinstance(parameters, Mapping):
        raise ConfigError(f"{path}: expected a mapping of name to parameter, got {parameters!r}.")
    problems: list[str] = []
    built: dict[str, Parameter] = {}
    for name, entry in parameters.items():
        try:
            built[str(name)] = parameter_from_mapping(entry, f"{path}.{name}")
        except ConfigError as exc:
            problems.extend(exc.problems)
    clauses: list[Condition] = []
    for i, clause in enumerate(forbidden):
        try:
            clauses.append(condition_from_mapping(clause, field=f"forbidden[{i}]"))
        except SpaceError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(problems)
    for name, parameter in built.items():
        if parameter.when is not None:
            unknown = sorted(parameter.when.names() - set(built))
            if unknown:
                problems.append(
                    f"{path}.{name}.when: names unknown parameter(s) {unknown}; "
                    f"known: {sorted(built)}."
                )
    for i, condition in enumerate(clauses):
        unknown = sorted(condition.names() - set(built))
        if unknown:
            problems.append(
                f"forbidden[{i}]: names unknown parameter(s) {unknown}; known: {sorted(built)}."
            )
    if problems:
        raise ConfigError(problems)
    try:
        return SearchSpace(built, static=static, forbidden=clauses)
    except SpaceError as exc:
        raise ConfigError(f"{path}: {exc}") from None
