"""DashboardQueries: job summaries, sorted and filtered pages of trials, chart inputs."""

from __future__ import annotations

import math

import pytest

from tuneforge.errors import ConfigError, NotFoundError
from tuneforge.storage import Storage
from tuneforge.storage.queries import DashboardQueries
from tuneforge.trial import Observation, TrialState


def make_job(storage: Storage, name: str, direction: str = "minimize") -> None:
    storage.create_job(
        name,
        document={},
        base_dir=".",
        objective="loss",
        direction=direction,
        strategy="random",
        max_trials=10,
        output_dir=None,
    )


def add_trial(
    storage: Storage,
    name: str,
    params: dict[str, object],
    state: TrialState,
    value: float | None,
    metrics: dict[str, list[float]] | None = None,
) -> int:
    number = storage.create_trial(name, params)
    if state is TrialState.PENDING:
        return number
    storage.start_trial(name, number, trial_dir=None, pid=None, time=10.0 * number)
    observations = [
        Observation(metric, v, step, 10.0 * number + step)
        for metric, values in (metrics or {}).items()
        for step, v in enumerate(values)
    ]
    storage.add_observations(name, number, observations)
    if state is not TrialState.RUNNING:
        storage.finish_trial(
            name,
            number,
            state=state,
            value=value,
            reason=None,
            log_tail=None,
            time=10.0 * number + 1 + number % 3,
        )
    return number


@pytest.fixture
def storage() -> Storage:
    """Job 'j': six trials with a conditional parameter, mixed types and NaN metrics."""
    store = Storage("sqlite://")
    make_job(store, "j")
    c = TrialState.COMPLETED
    add_trial(store, "j", {"lr": 0.1, "opt": "sgd", "m": 0.9}, c, 0.3, {"loss": [1.0, 0.3]})
    add_trial(store, "j", {"lr": 0.01, "opt": "adam"}, c, 0.1, {"loss": [0.5, 0.1], "acc": [0.9]})
    add_trial(store, "j", {"lr": 0.5, "opt": "sgd", "m": 0.5}, TrialState.FAILED, None)
    add_trial(store, "j", {"lr": 0.05, "opt": "adam"}, c, 0.1, {"loss": [math.nan]})
    add_trial(store, "j", {"lr": 0.2, "opt": "sgd", "m": 0.1}, TrialState.RUNNING, None)
    add_trial(store, "j", {"lr": 0.3, "opt": "adam"}, TrialState.PENDING, None)
    return store


def numbers(storage: Storage, **options: object) -> list[int]:
    page = DashboardQueries(storage).trial_page("j", **options)  # type: ignore[arg-type]
    return [t.number for t in page.trials]


def test_summaries_count_states_and_find_the_best(storage: Storage) -> None:
    """Counts per state, finished trials, and the best completed value (ties: lowest number)."""
    make_job(storage, "up", direction="maximize")
    add_trial(storage, "up", {"x": 1}, TrialState.COMPLETED, 2.0)
    add_trial(storage, "up", {"x": 2}, TrialState.COMPLETED, math.inf)
    summaries = {s.record.name: s for s in DashboardQueries(storage).job_summaries()}
    j = summaries["j"]
    assert j.counts[TrialState.COMPLETED] == 3 and j.counts[TrialState.PENDING] == 1
    assert (j.n_trials, j.n_done) == (6, 4)
    assert (j.best_number, j.best_value) == (1, 0.1)
    assert (summaries["up"].best_number, summaries["up"].best_value) == (0, 2.0)
    assert DashboardQueries(storage).job_summary("j") == j


def test_sorting_by_value_puts_missing_values_last_both_ways(storage: Storage) -> None:
    """Trials without a value come last in either direction; ties keep number order."""
    assert numbers(storage, sort="value") == [1, 3, 0, 2, 4, 5]
    assert numbers(storage, sort="value", descending=True) == [0, 1, 3, 2, 4, 5]


def test_sorting_by_a_conditional_parameter_or_a_metric(storage: Storage) -> None:
    """Parameters sort by their JSON value; absent parameters and NaN metrics come last."""
    assert numbers(storage, sort="params.m") == [4, 2, 0, 1, 3, 5]
    assert numbers(storage, sort="params.m", descending=True) == [0, 2, 4, 1, 3, 5]
    assert numbers(storage, sort="params.opt") == [1, 3, 5, 0, 2, 4]
    assert numbers(storage, sort="metrics.loss") == [1, 0, 2, 3, 4, 5]
    assert numbers(storage, sort="metrics.acc", descending=True)[0] == 1


def test_filter_and_slice(storage: Storage) -> None:
    """States filter before the count; offset and limit cut the sorted list."""
    page = DashboardQueries(storage).trial_page(
        "j", states=[TrialState.COMPLETED, TrialState.FAILED], sort="number", offset=1, limit=2
    )
    assert page.total == 4 and [t.number for t in page.trials] == [1, 2]
    assert numbers(storage, offset=10) == []


def test_page_trials_carry_parameters_and_last_metrics(storage: Storage) -> None:
    """A page's trials are full Trial values: parameters and the last value of each metric."""
    trial = DashboardQueries(storage).trial_page("j", sort="number", limit=2).trials[1]
    assert trial.params == {"lr": 0.01, "opt": "adam"}
    assert trial.metrics == {"loss": 0.1, "acc": 0.9}
    assert trial == storage.get_trial("j", 1)


def test_columns_points_series_and_fingerprint(storage: Storage) -> None:
    """Column names, chart points, metric series; the fingerprint moves on every write."""
    queries = DashboardQueries(storage)
    assert queries.trial_columns("j") == (["lr", "m", "opt"], ["acc", "loss"])
    points = queries.trial_points("j", [TrialState.COMPLETED])
    assert [(p.number, p.value) for p in points] == [(0, 0.3), (1, 0.1), (3, 0.1)]
    assert points[0].params == {"lr": 0.1, "opt": "sgd", "m": 0.9}
    series = queries.series("j", "loss", [0, 3])
    assert series[0] == [(0, 1.0), (1, 0.3)] and math.isnan(series[3][0][1])
    before = queries.fingerprint()
    storage.add_observations("j", 4, [Observation("loss", 0.2, 0, 41.0)])
    after_value = queries.fingerprint()
    storage.request_stop("j", 4)
    assert before[1] < after_value[1] and after_value[0] < queries.fingerprint()[0]


def test_bad_sort_keys_and_unknown_jobs_raise(storage: Storage) -> None:
    """An unknown sort key is a ConfigError listing the valid ones; a job NotFoundError."""
    with pytest.raises(ConfigError, match="unknown sort key 'colour'.*params.<name>"):
        numbers(storage, sort="colour")
    with pytest.raises(ConfigError, match="offset and limit"):
        numbers(storage, offset=-1)
    with pytest.raises(NotFoundError, match="no job named 'nope'"):
        DashboardQueries(storage).trial_page("nope")
