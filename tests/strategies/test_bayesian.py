"""Gaussian-process Bayesian optimization: the contract, its model parts and its behaviour."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tuneforge.errors import ConfigError
from tuneforge.space import Categorical, Float, Int, SearchSpace
from tuneforge.strategies import make_strategy
from tuneforge.strategies.bayesian import BayesianSearch
from tuneforge.strategies.models.acquisition import log_ei_gradient, log_expected_improvement
from tuneforge.strategies.models.encoding import Encoder
from tuneforge.strategies.models.gp import GaussianProcess
from tuneforge.strategies.models.search import robust_standardize
from tuneforge.testing.strategies import StrategyContract, StrategyFactory
from tuneforge.trial import Trial, TrialState


class TestBayesianContract(StrategyContract):
    n_asks = 12

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: BayesianSearch(space, seed=seed, n_candidates=64)


def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN = SearchSpace({"x1": Float(-5.0, 10.0), "x2": Float(0.0, 15.0)})


def run(
    strategy: Any, objective: Callable[[dict[str, Any]], float | None], n: int
) -> list[tuple[dict[str, Any], float | None]]:
    """Ask and tell ``n`` trials in sequence; ``None`` from the objective fails the trial."""
    history = []
    for number in range(n):
        config = strategy.ask()
        value = objective(config)
        state = TrialState.COMPLETED if value is not None else TrialState.FAILED
        strategy.tell(Trial(number, config, state, value=value))
        history.append((config, value))
    return history


# -- the model parts ------------------------------------------------------------------------


def test_snapping_matches_the_parameters_own_mapping() -> None:
    """The vectorized snap gives the same integers and categories as decode/encode."""
    space = SearchSpace(
        {
            "a": Int(-3, 7),
            "b": Int(1, 1000, log=True),
            "c": Categorical(["x", "y", "z"]),
            "d": Categorical([1, 2, 3, 4], ordered=True),
            "e": Float(1e-3, 1.0, log=True),
        }
    )
    encoder = Encoder(space)
    points = np.random.default_rng(0).random((500, len(space)))
    snapped = encoder.snap(points)
    for point, row in zip(points, snapped, strict=True):
        config = space.decode(point)
        assert encoder.config(row) == pytest.approx(config)
        np.testing.assert_allclose(row, encoder.features(config), atol=1e-12)


def test_gp_interpolates_and_is_uncertain_away_from_data() -> None:
    """A fitted GP predicts the training values closely and is more uncertain far away."""
    rng = np.random.default_rng(0)
    x = rng.random((20, 2))
    y = robust_standardize(np.sin(6 * x[:, 0]) + x[:, 1] ** 2)
    gp = GaussianProcess(np.array([False, False]))
    gp.fit(x, y, rng)
    mean, var = gp.predict(x)
    assert np.max(np.abs(mean - y)) < 0.1
    _, far = gp.predict(np.array([[3.0, 3.0]]))
    assert far[0] > 10 * var.max()


def test_acquisition_gradient_matches_finite_differences() -> None:
    """The analytic LogEI gradient (through the GP posterior) matches finite differences."""
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.random(15), rng.random(15), rng.integers(0, 3, 15)])
    y = robust_standardize(x[:, 0] ** 2 - x[:, 1] + x[:, 2])
    gp = GaussianProcess(np.array([False, False, True]))
    gp.fit(x, y, rng)
    columns = np.array([0, 1])
    query = np.array([[0.3, 0.6, 1.0], [0.9, 0.1, 2.0]])
    mean, var, dmean, dvar = gp.predict_with_gradient(query, columns)
    _, grad = log_ei_gradient(mean, var, dmean, dvar, float(y.min()))
    eps = 1e-6
    for j, c in enumerate(columns):
        up, down = query.copy(), query.copy()
        up[:, c] += eps
        down[:, c] -= eps
        values = [log_expected_improvement(*gp.predict(q), float(y.min())) for q in (up, down)]
        np.testing.assert_allclose(grad[:, j], (values[0] - values[1]) / (2 * eps), rtol=1e-4)


def test_log_ei_is_finite_far_below_the_incumbent() -> None:
    """LogEI stays finite and decreasing where plain EI underflows to zero."""
    mean = np.array([0.0, 10.0, 40.0, 1e5])
    values = log_expected_improvement(mean, np.ones(4), 0.0)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) < 0)


def test_output_transform_keeps_order_and_tames_outliers() -> None:
    """robust_standardize keeps the order of the losses and shrinks a huge outlier's lead."""
    losses = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1e6])
    z = robust_standardize(losses)
    assert list(np.argsort(z)) == list(np.argsort(losses))
    assert z[-1] - z[-2] < 10 * (z[1] - z[0]) * 6


# -- behaviour --------------------------------------------------------------------------------


def test_finds_the_branin_optimum_in_few_trials() -> None:
    """On Branin, 25 trials get within 0.05 of the optimum in at least 4 seeds of 5
    (random search: about 1.5 above it). A seed may stop at the local minimum on the edge
    x1 = 10 (1.94); see docs/strategies.md."""
    gaps = [
        min(v for _, v in run(BayesianSearch(BRANIN, seed=seed), branin, 25) if v is not None)
        - 0.397887
        for seed in range(5)
    ]
    assert sum(gap < 0.05 for gap in gaps) >= 4, gaps


def test_maximize_looks_for_high_values() -> None:
    """With direction='maximize' the search climbs -branin to its maximum."""
    search = make_strategy("bayesian", BRANIN, seed=1, direction="maximize")
    history = run(search, lambda p: -branin(p), 25)
    assert max(v for _, v in history if v is not None) > -0.397887 - 0.1


def test_pending_configurations_are_never_repeated() -> None:
    """Parallel asks (no tells in between) after the design give distinct configurations."""
    search = BayesianSearch(BRANIN, seed=2, n_candidates=128)
    run(search, branin, 8)
    configs = [search.ask() for _ in range(4)]
    keys = {tuple(sorted(c.items())) for c in configs if c is not None}
    assert len(keys) == 4


def test_failed_region_is_avoided() -> None:
    """Trials that fail where x > 0.5 teach the search to stay below 0.5."""
    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})

    def objective(p: dict[str, Any]) -> float | None:
        if p["x"] > 0.5:
            return None
        return -p["x"] - 0.1 * p["y"]  # best right at the failure boundary

    history = run(BayesianSearch(space, seed=3, n_candidates=128), objective, 30)
    late = [c["x"] for c, _ in history[15:]]
    assert np.mean(np.array(late) > 0.5) < 0.35


def test_mixed_space_optimum_found() -> None:
    """Integers, a log float and a categorical are searched as such: near-optimum found."""
    space = SearchSpace(
        {
            "lr": Float(1e-5, 1.0, log=True),
            "n": Int(1, 20),
            "kind": Categorical(["a", "b", "c"]),
        }
    )

    def objective(p: dict[str, Any]) -> float:
        return (
            (math.log10(p["lr"]) + 3) ** 2
            + 0.1 * (p["n"] - 7) ** 2
            + {"a": 1.0, "b": 0.0, "c": 2.0}[str(p["kind"])]
        )

    history = run(BayesianSearch(space, seed=4, n_candidates=256), objective, 30)
    best_config, best = min(history, key=lambda h: h[1] if h[1] is not None else math.inf)
    assert best is not None and best < 0.3
    assert best_config["kind"] == "b" and isinstance(best_config["n"], int)


def mixed_training_response(p: dict[str, Any]) -> float:
    """A training-like loss: the best learning rate depends on the optimizer, and dropout
    is a weak parameter whose best value (0.2) is inside its range."""
    best_lr = {"sgd": 1e-1, "adam": 1e-3, "rmsprop": 3e-4, "adagrad": 1e-2}[str(p["optimizer"])]
    offset = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1, "adagrad": 0.5}[str(p["optimizer"])]
    return (
        offset
        + 0.5 * (math.log10(p["lr"]) - math.log10(best_lr)) ** 2
        + 0.05 * (p["depth"] - 4) ** 2
        + 0.1 * (math.log2(p["width"]) - 7) ** 2
        + (p["dropout"] - 0.2) ** 2
    )


MIXED_TRAINING = SearchSpace(
    {
        "lr": Float(1e-5, 1.0, log=True),
        "depth": Int(1, 10),
        "width": Int(8, 1024, log=True),
        "optimizer": Categorical(["sgd", "adam", "rmsprop", "adagrad"]),
        "dropout": Float(0.0, 0.8),
    }
)


def test_local_steps_move_a_weak_parameter_off_the_edge() -> None:
    """Expected improvement alone leaves the weak dropout at 0, the edge of its range (its
    small effect looks like a slope to the GP); local steps around the best trial find its
    inside optimum. Over 5 seeds of 40 trials: dropout of the best trial within 0.05 of 0.2
    in at least 3 with local steps (the default), in at most 2 without."""

    def near_optimum(local_every: int) -> int:
        near = 0
        for seed in range(5):
            search = BayesianSearch(MIXED_TRAINING, seed=seed, local_every=local_every)
            history = run(search, mixed_training_response, 40)
            best_config, _ = min(history, key=lambda h: h[1] if h[1] is not None else math.inf)
            near += abs(float(best_config["dropout"]) - 0.2) < 0.05
        return near

    assert near_optimum(local_every=3) >= 3
    assert near_optimum(local_every=0) <= 2


def test_same_seed_same_sequence_with_tells() -> None:
    """The model's proposals, not only the design, repeat exactly with the same seed."""
    first = [c for c, _ in run(BayesianSearch(BRANIN, seed=5, n_candidates=64), branin, 12)]
    second = [c for c, _ in run(BayesianSearch(BRANIN, seed=5, n_candidates=64), branin, 12)]
    assert first == second


def test_small_discrete_space_is_covered_without_repeats() -> None:
    """In a space of 6 configurations the first 6 asks are all different."""
    space = SearchSpace({"a": Int(1, 3), "b": Categorical(["x", "y"])})
    history = run(BayesianSearch(space, seed=6, n_initial=2), lambda p: float(p["a"]), 6)
    assert len({tuple(sorted(c.items())) for c, _ in history}) == 6


def test_bad_options_are_refused() -> None:
    """Options are checked and named in the error."""
    with pytest.raises(ConfigError, match="n_candidates"):
        make_strategy("bayesian", BRANIN, options={"n_candidates": 0})
    with pytest.raises(ConfigError, match="n_initial"):
        make_strategy("bayesian", BRANIN, options={"n_initial": "five"})
    with pytest.raises(ConfigError, match="local_every"):
        make_strategy("bayesian", BRANIN, options={"local_every": -1})
