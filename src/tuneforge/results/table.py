"""Trials as a table: the best trial, a pandas DataFrame of every trial, and sorting it.

Pure data, no printing: the CLI renders these frames, exports write them, the dashboard
serves them.

The frame has one row per trial and the columns ``number, state, value, params.<name>...,
metrics.<name>..., started_at, finished_at, duration, reason, trial_dir, continues``
(``continues``: the trial whose checkpoint this one started from, NA if none). Parameter and
metric columns are the union over the trials, in first-seen order; a trial without a
parameter (a conditional one) or a metric has NA there. ``state`` is the state's string
value, ``started_at``/``finished_at`` are UTC ``pandas.Timestamp`` (NaT when unknown) and
``duration`` is float seconds.

Example:
    >>> from tuneforge.trial import Trial, TrialState
    >>> trials = [Trial(0, {"lr": 0.1}, TrialState.COMPLETED, value=0.3),
    ...           Trial(1, {"lr": 0.01}, TrialState.COMPLETED, value=0.2)]
    >>> best_trial(trials, "minimize").number
    1
    >>> list(sort_frame(trials_frame(trials), "lr", "ascending")["number"])
    [1, 0]
    >>> resolve_sort_key("lr", ["number", "value", "params.lr", "metrics.loss"])
    'params.lr'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from tuneforge.errors import ConfigError
from tuneforge.trial import Direction, Trial, TrialState

PARAM_PREFIX = "params."
METRIC_PREFIX = "metrics."
SORT_ORDERS = {
    Direction.MINIMIZE.value: True,
    "ascending": True,
    "asc": True,
    Direction.MAXIMIZE.value: False,
    "descending": False,
    "desc": False,
}
_LEADING = ["number", "state", "value"]
_TRAILING = ["started_at", "finished_at", "duration", "reason", "trial_dir", "continues"]


def best_trial(
    trials: Sequence[Trial], direction: str, *, include_stopped_early: bool = False
) -> Trial | None:
    """The completed trial with the best finite value; ties go to the lowest number.

    Failed, stopped and running trials are never best, whatever value they hold. A trial
    stopped early holds the value it had when it stopped (an unfinished run); it competes
    only with ``include_stopped_early=True``.
    """
    sign = _direction(direction).sign
    states = {TrialState.COMPLETED}
    if include_stopped_early:
        states.add(TrialState.STOPPED_EARLY)
    candidates = [
        t for t in trials if t.state in states and t.value is not None and math.isfinite(t.value)
    ]
    if not candidates:
        return None

    def rank(trial: Trial) -> tuple[float, int]:
        value = float(trial.value)  # type: ignore[arg-type]  # filtered above
        return (sign * value, trial.number)

    return min(candidates, key=rank)


def trials_frame(trials: Sequence[Trial]) -> pd.DataFrame:
    """One row per trial, in the order given (see the module docstring for the columns)."""
    param_names = _first_seen(t.params for t in trials)
    metric_names = _first_seen(t.metrics for t in trials)
    columns: dict[str, Any] = {
        "number": pd.Series([t.number for t in trials], dtype="int64"),
        "state": pd.Series([t.state.value for t in trials], dtype="str"),
        "value": pd.Series([_float(t.value) for t in trials], dtype="float64"),
    }
    for name in param_names:
        columns[PARAM_PREFIX + name] = _param_column([t.params.get(name) for t in trials])
    for name in metric_names:
        values = [_float(t.metrics.get(name)) for t in trials]
        columns[METRIC_PREFIX + name] = pd.Series(values, dtype="float64")
    columns["started_at"] = _timestamps([t.started_at for t in trials])
    columns["finished_at"] = _timestamps([t.finished_at for t in trials])
    columns["duration"] = pd.Series([_float(t.duration) for t in trials], dtype="float64")
    columns["reason"] = pd.Series([t.reason for t in trials], dtype="object")
    columns["trial_dir"] = pd.Series([t.trial_dir for t in trials], dtype="object")
    columns["continues"] = pd.Series([t.continues for t in trials], dtype="Int64")
    return pd.DataFrame(columns)


def sort_frame(frame: pd.DataFrame, key: str, direction: str) -> pd.DataFrame:
    """Sort by ``key``, missing values (NaN, NaT) last whatever the direction.

    ``key`` is a column (``value``, ``number``, ``duration``, ``metrics.loss``,
    ``params.lr``...) or a parameter or metric name without its prefix. ``direction`` is
    ``minimize``/``ascending``/``asc`` or ``maximize``/``descending``/``desc``. Ties keep
    the frame's order (number order for a fresh frame).
    """
    if direction not in SORT_ORDERS:
        expected = ", ".join(SORT_ORDERS)
        raise ConfigError(f"unknown sort direction {direction!r}; expected one of {expected}.")
    column = resolve_column(frame, key)
    ascending = SORT_ORDERS[direction]
    try:
        ordered = frame.sort_values(column, ascending=ascending, na_position="last", kind="stable")
    except TypeError:
        # A column mixing types (a parameter that is a number in one trial and text in
        # another) cannot be compared; sort it as text rather than fail.
        ordered = frame.sort_values(
            column,
            ascending=ascending,
            na_position="last",
            kind="stable",
            key=lambda series: series.map(lambda v: None if _is_missing(v) else str(v)),
        )
    return ordered.reset_index(drop=True)


def resolve_column(frame: pd.DataFrame, key: str) -> str:
    """The column ``key`` names, or ``ConfigError`` listing the keys that would be valid."""
    return resolve_sort_key(
        key, [str(c) for c in frame.columns if c not in ("reason", "trial_dir")]
    )


def resolve_sort_key(key: str, columns: Sequence[str], *, field: str | None = None) -> str:
    """The sortable column ``key`` names among ``columns``, the one place sort keys are read.

    ``key`` is a column (``value``, ``params.lr``...) or a parameter or metric name without
    its prefix; a bare name that is both asks for the prefixed form. ``ConfigError``
    otherwise, listing ``columns``; ``field`` names the option or query parameter the key
    came from, when the caller has one.
    """
    if key in columns:
        return key
    matches = [p + key for p in (PARAM_PREFIX, METRIC_PREFIX) if p + key in columns]
    if len(matches) == 1:
        return matches[0]
    where = f"{field}: " if field else "sort key "
    if len(matches) == 2:
        raise ConfigError(
            f"{where}{key!r} is both a parameter and a metric; "
            f"use {matches[0]!r} or {matches[1]!r}."
        )
    unknown = f"{field}: unknown key" if field else "unknown sort key"
    raise ConfigError(
        f"{unknown} {key!r}; valid keys: {', '.join(columns)} "
        "(parameters and metrics may also be named without their prefix)."
    )


def _direction(direction: str) -> Direction:
    """The direction ``direction`` names; ConfigError for anything but the two directions."""
    try:
        return Direction(direction)
    except ValueError:
        expected = " or ".join(repr(d.value) for d in Direction)
        raise ConfigError(f"unknown direction {direction!r}; expected {expected}.") from None


def _first_seen(mappings: Any) -> list[str]:
    names: dict[str, None] = {}
    for mapping in mappings:
        names.update(dict.fromkeys(mapping))
    return list(names)


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _timestamps(times: list[float | None]) -> pd.Series:
    seconds = pd.Series([_float(t) for t in times], dtype="float64")
    # One resolution for every time column, whatever pandas infers from the values.
    return pd.to_datetime(seconds, unit="s", utc=True).dt.as_unit("us")


def _param_column(values: list[Any]) -> pd.Series:
    """A parameter column whose dtype keeps the values' type (ints stay ints, even with NA)."""
    present = [v for v in values if v is not None]
    if not present:
        return pd.Series(values, dtype="object")
    missing = len(present) < len(values)
    if all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="boolean" if missing else "bool")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        try:
            return pd.Series(values, dtype="Int64" if missing else "int64")
        except (OverflowError, TypeError, ValueError):  # beyond 64 bits: keep Python ints
            return pd.Series(values, dtype="object")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pd.Series([_float(v) for v in values], dtype="float64")
    if all(isinstance(v, str) for v in present):
        return pd.Series(values, dtype="str")
    return pd.Series(values, dtype="object")


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and other containers are values, not NA
        return False
