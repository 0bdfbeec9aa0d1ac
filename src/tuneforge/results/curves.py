"""Learning curves as a table: every value every trial reported, one row per observation.

The frame is in long format, ready for a learning-curve plot (one line per trial and
metric, x = step) or for ``groupby``: columns ``number, state, metric, step, value,
time``. Rows are in trial-number order, then metric, then step. ``state`` is the trial's
state (``completed``, ``stopped_early``...), so a plot can draw the curves that an
early-stopping rule ended differently; ``time`` is a UTC ``pandas.Timestamp``.

:func:`curves_frame` works on values (trials and their observations) like the rest of
``tuneforge.results``; :func:`read_curves` reads them from storage first.

Example:
    >>> from tuneforge.trial import Observation, Trial, TrialState
    >>> trials = [Trial(0, {}, TrialState.STOPPED_EARLY, value=0.5)]
    >>> series = {0: [Observation("loss", 0.9, 1, 0.0), Observation("loss", 0.5, 2, 1.0)]}
    >>> curves_frame(trials, series)[["number", "state", "step", "value"]].values.tolist()
    [[0, 'stopped_early', 1, 0.9], [0, 'stopped_early', 2, 0.5]]
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pandas as pd

from tuneforge.storage import Storage
from tuneforge.trial import Observation, Trial, TrialState

CURVE_COLUMNS = ("number", "state", "metric", "step", "value", "time")


def curves_frame(
    trials: Sequence[Trial],
    series: Mapping[int, Sequence[Observation]],
    *,
    metric: str | None = None,
) -> pd.DataFrame:
    """The long-format curve table of ``trials`` (``series``: trial number -> observations).

    ``metric`` keeps one metric only. Trials without observations have no rows.
    """
    rows: list[tuple[int, str, str, int, float, float]] = []
    for trial in sorted(trials, key=lambda t: t.number):
        observations = [
            o for o in series.get(trial.number, ()) if metric is None or o.metric == metric
        ]
        observations.sort(key=lambda o: (o.metric, o.step, o.time))
        for o in observations:
            rows.append((trial.number, trial.state.value, o.metric, o.step, o.value, o.time))
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(CURVE_COLUMNS)
    times = pd.Series(columns[5], dtype="float64")
    return pd.DataFrame(
        {
            "number": pd.Series(columns[0], dtype="int64"),
            "state": pd.Series(columns[1], dtype="str"),
            "metric": pd.Series(columns[2], dtype="str"),
            "step": pd.Series(columns[3], dtype="int64"),
            "value": pd.Series(columns[4], dtype="float64"),
            "time": pd.to_datetime(times, unit="s", utc=True).dt.as_unit("us"),
        }
    )


def read_curves(
    storage: Storage,
    job_name: str,
    *,
    metric: str | None = None,
    states: Collection[TrialState] | None = None,
) -> pd.DataFrame:
    """The curve table of a stored job (its trials in ``states``, all by default)."""
    trials = storage.trials(job_name, states)
    series = {t.number: storage.metric_series(job_name, t.number, metric) for t in trials}
    return curves_frame(trials, series, metric=metric)


def curves_to_json(frame: pd.DataFrame) -> str:
    """The curve table as a JSON list of records; NaN and infinite values become ``null``."""
    records = []
    for row in frame.to_dict(orient="records"):
        record: dict[str, Any] = {}
        for name, value in row.items():
            if isinstance(value, pd.Timestamp):
                record[str(name)] = value.isoformat(timespec="milliseconds")
            elif isinstance(value, float) and not math.isfinite(value):
                record[str(name)] = None
            elif hasattr(value, "item"):  # numpy scalars
                record[str(name)] = value.item()
            else:
                record[str(name)] = value
        records.append(record)
    return json.dumps(records, indent=2, allow_nan=False) + "\n"
