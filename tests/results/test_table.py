"""The best trial, the trials frame and sorting it."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from tuneforge.errors import ConfigError
from tuneforge.results import best_trial, resolve_sort_key, sort_frame, trials_frame
from tuneforge.trial import Trial, TrialState


def make_trial(
    number: int,
    value: float | None = None,
    state: TrialState = TrialState.COMPLETED,
    params: dict[str, Any] | None = None,
    **fields: Any,
) -> Trial:
    return Trial(number=number, params=params or {}, state=state, value=value, **fields)


# ------------------------------------------------------------------------------- best


def test_best_trial_by_direction() -> None:
    """minimize picks the lowest value, maximize the highest."""
    trials = [make_trial(0, 0.5), make_trial(1, 0.1), make_trial(2, 0.9)]
    assert best_trial(trials, "minimize") == trials[1]
    assert best_trial(trials, "maximize") == trials[2]


def test_best_trial_ties_go_to_the_lowest_number() -> None:
    """Equal values: the trial with the lowest number wins, whatever the order given."""
    trials = [make_trial(5, 1.0), make_trial(2, 1.0), make_trial(9, 1.0)]
    assert best_trial(trials, "minimize").number == 2  # type: ignore[union-attr]
    assert best_trial(trials, "maximize").number == 2  # type: ignore[union-attr]


def test_only_completed_trials_with_finite_values_can_be_best() -> None:
    """Failed, stopped, running and non-finite trials are never best."""
    trials = [
        make_trial(0, -100.0, TrialState.FAILED),
        make_trial(1, -50.0, TrialState.STOPPED),
        make_trial(2, -20.0, TrialState.RUNNING),
        make_trial(3, -math.inf),
        make_trial(4, math.nan),
        make_trial(5, None),
        make_trial(6, 3.0),
    ]
    assert best_trial(trials, "minimize") == trials[6]


def test_best_trial_is_none_without_completed_trials() -> None:
    """No completed trial with a value means there is no best trial."""
    assert best_trial([], "minimize") is None
    assert best_trial([make_trial(0, 1.0, TrialState.FAILED)], "maximize") is None


def test_best_trial_rejects_an_unknown_direction() -> None:
    """A direction other than minimize or maximize is a ConfigError naming both."""
    with pytest.raises(
        ConfigError, match="unknown direction 'up'; expected 'minimize' or 'maximize'"
    ):
        best_trial([make_trial(0, 1.0)], "up")


# ------------------------------------------------------------------------------ frame


def sample_trials() -> list[Trial]:
    return [
        make_trial(
            0,
            0.5,
            params={"lr": 0.1, "layers": 2, "opt": "adam"},
            metrics={"loss": 0.5, "acc": 0.8},
            started_at=1_700_000_000.0,
            finished_at=1_700_000_012.5,
            trial_dir="/out/trial-0000",
        ),
        make_trial(
            1,
            None,
            TrialState.FAILED,
            params={"lr": 0.2, "opt": "sgd", "momentum": 0.9},
            metrics={"loss": math.nan},
            reason="exit code 1",
        ),
        make_trial(2, 0.2, params={"lr": 0.3, "layers": 4, "opt": "sgd"}, metrics={"acc": 0.9}),
        make_trial(3, None, TrialState.RUNNING, params={"lr": 0.01, "layers": 3, "opt": "adam"}),
    ]


def test_frame_columns_in_order() -> None:
    """Columns: number, state, value, params and metrics in first-seen order, then the rest."""
    frame = trials_frame(sample_trials())
    assert list(frame.columns) == [
        "number", "state", "value",
        "params.lr", "params.layers", "params.opt", "params.momentum",
        "metrics.loss", "metrics.acc",
        "started_at", "finished_at", "duration", "reason", "trial_dir", "continues",
    ]  # fmt: skip
    assert list(frame["number"]) == [0, 1, 2, 3]
    assert list(frame["state"]) == ["completed", "failed", "completed", "running"]


def test_frame_values_keep_their_types() -> None:
    """Int parameters stay ints even with a missing value; strings stay strings."""
    frame = trials_frame(sample_trials())
    assert frame["params.layers"].tolist()[0] == 2 and pd.isna(frame["params.layers"][1])
    assert str(frame["params.layers"].dtype) == "Int64"
    assert frame["params.opt"].tolist() == ["adam", "sgd", "sgd", "adam"]
    assert frame["params.lr"].dtype == "float64"
    assert pd.isna(frame["params.momentum"][0]) and frame["params.momentum"][1] == 0.9
    assert math.isnan(frame["value"][1]) and frame["value"][2] == 0.2
    assert frame["reason"].tolist() == [None, "exit code 1", None, None]


def test_frame_times_are_utc_timestamps_and_duration_seconds() -> None:
    """started_at/finished_at are UTC timestamps (NaT when unknown), duration in seconds."""
    frame = trials_frame(sample_trials())
    assert frame["started_at"][0] == pd.Timestamp("2023-11-14T22:13:20", tz="UTC")
    assert frame["finished_at"][0] == pd.Timestamp("2023-11-14T22:13:32.5", tz="UTC")
    assert frame["duration"][0] == 12.5
    assert pd.isna(frame["started_at"][1]) and math.isnan(frame["duration"][1])


def test_frame_of_no_trials_has_the_fixed_columns() -> None:
    """An empty job gives an empty frame that still has the fixed columns."""
    frame = trials_frame([])
    assert len(frame) == 0
    assert list(frame.columns) == [
        "number", "state", "value", "started_at", "finished_at", "duration", "reason", "trial_dir",
        "continues",
    ]  # fmt: skip


# ---------------------------------------------------------------------------- sorting


def numbers(frame: pd.DataFrame) -> list[int]:
    return [int(n) for n in frame["number"]]


def test_sort_by_value_puts_missing_values_last() -> None:
    """Sorting by value either way keeps trials without a value at the end."""
    frame = trials_frame(sample_trials())
    assert numbers(sort_frame(frame, "value", "minimize")) == [2, 0, 1, 3]
    assert numbers(sort_frame(frame, "value", "maximize")) == [0, 2, 1, 3]


@pytest.mark.parametrize(
    ("key", "direction", "expected"),
    [
        ("number", "descending", [3, 2, 1, 0]),
        ("loss", "asc", [0, 1, 2, 3]),
        ("metrics.acc", "desc", [2, 0, 1, 3]),
        ("lr", "ascending", [3, 0, 1, 2]),
        ("params.layers", "descending", [2, 3, 0, 1]),
        ("opt", "ascending", [0, 3, 1, 2]),
        ("duration", "ascending", [0, 1, 2, 3]),
    ],
)
def test_sort_by_any_key(key: str, direction: str, expected: list[int]) -> None:
    """Keys may be a column, or a parameter or metric name without its prefix."""
    assert numbers(sort_frame(trials_frame(sample_trials()), key, direction)) == expected


def test_sort_ties_keep_number_order() -> None:
    """Trials with equal keys stay in number order, in both directions."""
    trials = [make_trial(n, 1.0 if n % 2 else 2.0) for n in range(6)]
    assert numbers(sort_frame(trials_frame(trials), "value", "maximize")) == [0, 2, 4, 1, 3, 5]
    assert numbers(sort_frame(trials_frame(trials), "value", "minimize")) == [1, 3, 5, 0, 2, 4]


def test_sort_a_column_of_mixed_types() -> None:
    """A parameter that is a number in one trial and text in another still sorts (as text)."""
    trials = [make_trial(0, params={"p": "b"}), make_trial(1, params={"p": 3}), make_trial(2)]
    assert numbers(sort_frame(trials_frame(trials), "p", "ascending")) == [1, 0, 2]


def test_sort_by_an_unknown_key_lists_the_valid_keys() -> None:
    """An unknown key is a ConfigError that lists every valid key."""
    frame = trials_frame(sample_trials())
    with pytest.raises(ConfigError) as info:
        sort_frame(frame, "speed", "ascending")
    message = str(info.value)
    assert message.startswith("unknown sort key 'speed'; valid keys: number, state, value, ")
    assert "params.lr" in message and "metrics.acc" in message and "duration" in message
    assert "without their prefix" in message


def test_sort_key_that_is_both_a_param_and_a_metric_must_be_prefixed() -> None:
    """A bare name shared by a parameter and a metric asks for the prefixed form."""
    frame = trials_frame([make_trial(0, params={"loss": "mse"}, metrics={"loss": 0.1})])
    with pytest.raises(ConfigError, match="use 'params.loss' or 'metrics.loss'"):
        sort_frame(frame, "loss", "ascending")
    assert numbers(sort_frame(frame, "metrics.loss", "ascending")) == [0]


def test_sort_rejects_an_unknown_direction() -> None:
    """The direction must be one of the listed words."""
    with pytest.raises(ConfigError, match="unknown sort direction 'up'; expected one of minimize"):
        sort_frame(trials_frame(sample_trials()), "value", "up")


# ---------------------------------------------------------------------------- sort keys

SORTABLE = ["number", "value", "params.lr", "params.loss", "metrics.loss", "metrics.acc"]


@pytest.mark.parametrize(
    ("key", "column"),
    [
        ("value", "value"),
        ("lr", "params.lr"),
        ("acc", "metrics.acc"),
        ("params.loss", "params.loss"),
    ],
)
def test_a_sort_key_names_a_column_with_or_without_its_prefix(key: str, column: str) -> None:
    """A column, or a parameter or metric name without its prefix, resolves to the column."""
    assert resolve_sort_key(key, SORTABLE) == column


def test_a_sort_key_error_names_the_field_it_came_from() -> None:
    """With a field (the API's ``sort``), the message starts with it and lists the columns."""
    with pytest.raises(ConfigError, match=r"^sort: unknown key 'speed'; valid keys: number, "):
        resolve_sort_key("speed", SORTABLE, field="sort")
    with pytest.raises(ConfigError, match=r"^sort: 'loss' is both a parameter and a metric"):
        resolve_sort_key("loss", SORTABLE, field="sort")
