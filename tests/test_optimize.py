"""`tuneforge.optimize`: the in-process API that benchmarks and Python users call."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pytest

import tuneforge as tf
from tuneforge.errors import ConfigError, JobExistsError
from tuneforge.trial import TrialState


def sphere(params: dict[str, Any]) -> float:
    return (params["x"] - 1.0) ** 2 + (params["y"] + 2) ** 2


SPACE = {"x": tf.Float(-5, 5), "y": tf.Int(-5, 5)}


def test_returns_every_trial_in_order_and_the_best() -> None:
    """The result lists max_trials trials in evaluation order; best has the lowest value."""
    result = tf.optimize(sphere, SPACE, max_trials=30, seed=1)
    assert [t.number for t in result.trials] == list(range(30))
    assert all(t.state is TrialState.COMPLETED for t in result.trials)
    assert result.best is not None
    assert result.best.value == min(t.value for t in result.trials if t.value is not None)
    assert result.best.value == pytest.approx(sphere(dict(result.best.params)))


def test_maximize_picks_the_highest_value() -> None:
    """direction='maximize' makes the highest value the best."""
    result = tf.optimize(lambda p: -sphere(p), SPACE, max_trials=10, direction="maximize", seed=0)
    assert result.best is not None
    assert result.best.value == max(t.value for t in result.trials if t.value is not None)


def test_same_seed_same_trials_for_every_strategy() -> None:
    """The same seed gives the same configurations, for each strategy of the core."""
    for strategy in ("random", "sobol", "lhs", "grid"):
        options = {"grid_points": 3} if strategy == "grid" else None
        runs = [
            tf.optimize(
                sphere, SPACE, strategy=strategy, max_trials=8, seed=7, strategy_options=options
            )
            for _ in range(2)
        ]
        assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials], strategy


def test_an_exception_fails_that_trial_only() -> None:
    """A trial that raises is FAILED with the error; the others complete."""

    def sometimes(params: dict[str, Any]) -> float:
        if params["x"] > 0:
            raise RuntimeError("diverged")
        return sphere(params)

    result = tf.optimize(sometimes, SPACE, max_trials=12, seed=0)
    failed = [t for t in result.trials if t.state is TrialState.FAILED]
    assert failed and all("RuntimeError: diverged" in (t.reason or "") for t in failed)
    assert any(t.state is TrialState.COMPLETED for t in result.trials)


def test_nan_fails_the_trial() -> None:
    """An objective returning NaN is a failed trial, never the best one."""
    result = tf.optimize(lambda p: math.nan, SPACE, max_trials=3, seed=0)
    assert {t.state for t in result.trials} == {TrialState.FAILED}
    assert result.best is None


def test_a_dict_of_metrics_optimizes_the_named_one() -> None:
    """A dict result is recorded whole; `metric` names the objective."""
    result = tf.optimize(
        lambda p: {"loss": sphere(p), "size": 3.0}, SPACE, max_trials=4, metric="loss", seed=0
    )
    trial = result.trials[0]
    assert trial.metrics == {"loss": trial.value, "size": 3.0}


def test_static_values_reach_the_objective() -> None:
    """Plain values in the space dict are passed to every trial unchanged."""
    seen: list[int] = []
    tf.optimize(
        lambda p: seen.append(p["epochs"]) or 0.0, {"x": tf.Float(0, 1), "epochs": 5}, max_trials=2
    )
    assert seen == [5, 5]


def test_n_jobs_runs_trials_concurrently() -> None:
    """With n_jobs=3, three objective calls overlap in time."""
    barrier = threading.Barrier(3, timeout=10)

    def meet(params: dict[str, Any]) -> float:
        barrier.wait()
        return 0.0

    result = tf.optimize(meet, SPACE, max_trials=3, n_jobs=3)
    assert all(t.state is TrialState.COMPLETED for t in result.trials)


def test_a_storage_file_keeps_the_job_and_resume_continues_it(tmp_path: Path) -> None:
    """With a SQLite URL the trials persist; resume=True adds trials to the same job."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    tf.optimize(sphere, SPACE, max_trials=3, storage=url, job_name="study", seed=0)
    with pytest.raises(JobExistsError, match="already exists"):
        tf.optimize(sphere, SPACE, max_trials=3, storage=url, job_name="study", seed=0)
    result = tf.optimize(
        sphere, SPACE, max_trials=5, storage=url, job_name="study", seed=0, resume=True
    )
    assert [t.number for t in result.trials] == [0, 1, 2, 3, 4]
    fresh = tf.optimize(sphere, SPACE, max_trials=5, seed=0)
    assert [t.params for t in result.trials] == [t.params for t in fresh.trials]


def test_bad_arguments_get_clear_errors() -> None:
    """Bad direction, max_trials, strategy or option names say what is valid."""
    with pytest.raises(ConfigError, match="'minimize' or 'maximize'"):
        tf.optimize(sphere, SPACE, max_trials=3, direction="down")
    with pytest.raises(ConfigError, match="max_trials: must be an int >= 1, got 0"):
        tf.optimize(sphere, SPACE, max_trials=0)
    with pytest.raises(ConfigError, match="unknown strategy 'anneal'; expected one of"):
        tf.optimize(sphere, SPACE, max_trials=3, strategy="anneal")
    with pytest.raises(ConfigError, match="has no option"):
        tf.optimize(sphere, SPACE, max_trials=3, strategy="random", strategy_options={"k": 1})
