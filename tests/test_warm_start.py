"""Warm start: earlier jobs' trials seed the model of a new job."""

from __future__ import annotations

import math
from typing import Any

import pytest

import tuneforge as tf
from tuneforge.errors import ConfigError
from tuneforge.jobfile import job_from_document
from tuneforge.space import Categorical, Float, Int, SearchSpace
from tuneforge.strategies import make_strategy
from tuneforge.strategies.warm import compatible_trials
from tuneforge.trial import Trial, TrialState

SPACE = {"x": tf.Float(-5.0, 5.0), "y": tf.Float(-5.0, 5.0)}


def bowl(params: dict[str, Any]) -> float:
    return (params["x"] - 1.5) ** 2 + (params["y"] + 2.0) ** 2


def test_compatible_trials_drop_extra_parameters_and_invalid_ones() -> None:
    """Extra parameters are dropped; out-of-range, incomplete and running trials are not kept."""
    space = SearchSpace({"x": Float(0.0, 1.0), "n": Int(1, 5), "c": Categorical(["a", "b"])})
    trials = [
        Trial(0, {"x": 0.5, "n": 2, "c": "a", "extra": 7}, TrialState.COMPLETED, value=1.0),
        Trial(1, {"x": 2.0, "n": 2, "c": "a"}, TrialState.COMPLETED, value=0.5),
        Trial(2, {"x": 0.5, "c": "a"}, TrialState.COMPLETED, value=0.1),
        Trial(3, {"x": 0.1, "n": 3, "c": "b"}, TrialState.FAILED),
        Trial(4, {"x": 0.2, "n": 3, "c": "b"}, TrialState.RUNNING),
    ]
    kept = compatible_trials(trials, space)
    assert [t.number for t in kept] == [0, 3]
    assert dict(kept[0].params) == {"x": 0.5, "n": 2, "c": "a"}
    assert all(t.origin == "warm_start" for t in kept)


def test_first_ask_after_warm_start_is_near_the_known_optimum() -> None:
    """Seeded with 30 trials of an earlier job, the model's first proposal is near the optimum."""
    first = tf.optimize(bowl, SPACE, strategy="random", max_trials=30, seed=0)
    search = make_strategy("auto", SearchSpace(dict(SPACE)), seed=1)
    search.warm_start(compatible_trials(first.trials, search.space))
    config = search.ask()
    assert config is not None
    assert bowl(config) < 0.5


def test_optimize_with_warm_start_does_better_early() -> None:
    """A second job seeded with the first job's trials beats an unseeded one in its first trials."""
    first = tf.optimize(bowl, SPACE, max_trials=20, seed=0)
    seeded = tf.optimize(bowl, SPACE, max_trials=3, seed=1, warm_start=first.trials)
    fresh = tf.optimize(bowl, SPACE, max_trials=3, seed=1)
    best_seeded = min(t.value for t in seeded.trials if t.value is not None)
    best_fresh = min(t.value for t in fresh.trials if t.value is not None)
    assert best_seeded < best_fresh
    assert best_seeded < 0.2
    assert len(seeded.trials) == 3  # warm-start trials are not counted or stored as this job's


def test_warm_start_from_a_larger_space_uses_the_shared_parameters() -> None:
    """Trials of an earlier job with one more parameter still seed a job over a subset."""
    wider = {**SPACE, "z": tf.Categorical(["a", "b"])}
    first = tf.optimize(
        lambda p: bowl(p) + (p["z"] == "b"), wider, strategy="random", max_trials=20, seed=0
    )
    trials = compatible_trials(first.trials, SearchSpace(dict(SPACE)))
    assert len(trials) == 20
    seeded = tf.optimize(bowl, SPACE, max_trials=2, seed=3, warm_start=trials)
    best_seeded = min(t.value for t in seeded.trials if t.value is not None)
    assert best_seeded < min(t.value for t in first.trials if t.value is not None)
    assert best_seeded < 0.5


def test_job_file_names_warm_start_jobs() -> None:
    """warm_start: in a job file is a list of job names, checked like the job's own name."""
    document = {
        "name": "second",
        "command": "python train.py --x ${x}",
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": "loss",
        "warm_start": ["first", "first-again"],
    }
    assert job_from_document(document, ".").warm_start == ("first", "first-again")
    assert job_from_document({**document, "warm_start": "first"}, ".").warm_start == ("first",)
    with pytest.raises(ConfigError, match="warm_start: invalid job name"):
        job_from_document({**document, "warm_start": ["../etc"]}, ".")


def test_maximize_warm_start_reads_values_in_the_job_direction() -> None:
    """With direction maximize, warm-start values are rewards: the first ask is near the top."""
    first = tf.optimize(lambda p: -bowl(p), SPACE, strategy="random", max_trials=30, seed=2)
    search = make_strategy("bayesian", SearchSpace(dict(SPACE)), seed=0, direction="maximize")
    search.warm_start(compatible_trials(first.trials, search.space))
    config = search.ask()
    assert config is not None and math.isfinite(bowl(config)) and bowl(config) < 0.5
