"""Random-forest (SMAC-style) search: the contract and its behaviour."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tuneforge.errors import ConfigError
from tuneforge.space import Categorical, Float, Int, SearchSpace
from tuneforge.strategies import make_strategy
from tuneforge.strategies.forest import ForestSearch
from tuneforge.strategies.models.forest import Forest
from tuneforge.testing.strategies import StrategyContract, StrategyFactory
from tuneforge.trial import Trial, TrialState


class TestForestContract(StrategyContract):
    n_asks = 12

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: ForestSearch(space, seed=seed, n_trees=8, n_candidates=64)


SPACE = SearchSpace(
    {
        "c": Categorical(["p", "q", "r"]),
        "n": Int(1, 30),
        "x": Float(0.0, 1.0),
        "y": Float(1e-4, 1.0, log=True),
    }
)


def objective(p: dict[str, Any]) -> float:
    return (
        {"p": 0.5, "q": 0.0, "r": 1.0}[str(p["c"])]
        + abs(p["n"] - 20) / 10
        + 4 * (p["x"] - 0.3) ** 2
        + (math.log10(p["y"]) + 2) ** 2
    )


def run(strategy: ForestSearch, n: int) -> list[float]:
    values = []
    for number in range(n):
        config = strategy.ask()
        assert config is not None
        value = objective(config)
        strategy.tell(Trial(number, config, TrialState.COMPLETED, value=value))
        values.append(value)
    return values


def test_forest_uncertainty_is_the_spread_of_its_trees() -> None:
    """The forest fits a step and its trees disagree only around the step."""
    rng = np.random.default_rng(0)
    x = rng.random((60, 2))
    y = np.where(x[:, 0] > 0.5, 1.0, 0.0)
    forest = Forest(n_trees=16)
    forest.fit(x, y, rng)
    mean, _ = forest.predict(x)
    assert np.mean(np.abs(mean - y)) < 0.1
    grid = np.linspace(0.0, 1.0, 201)
    _, var = forest.predict(np.column_stack([grid, np.full_like(grid, 0.5)]))
    near = np.abs(grid - 0.5) < 0.1
    assert var[near].mean() > 10 * var[~near].mean()


def test_beats_random_search_on_a_mixed_problem() -> None:
    """On a mixed problem 40 trials find a better value than random search's median."""
    forest_best = min(run(ForestSearch(SPACE, seed=0, n_trees=12), 40))
    rng = np.random.default_rng(0)
    random_bests = [min(objective(SPACE.sample(rng)) for _ in range(40)) for _ in range(9)]
    assert forest_best < float(np.median(random_bests))


def test_inactive_parameters_are_modelled() -> None:
    """A conditional space is searched: configurations are valid and the optimum is approached."""
    space = SearchSpace(
        {
            "kind": Categorical(["a", "b"]),
            "x": Float(0.0, 1.0, when={"kind": "a"}),
            "y": Float(0.0, 1.0, when={"kind": "b"}),
        }
    )
    search = ForestSearch(space, seed=1, n_trees=8)
    best = math.inf
    for number in range(30):
        config = search.ask()
        assert config is not None
        space.check(config)
        value = (config["x"] - 0.7) ** 2 if config["kind"] == "a" else 0.5 + config["y"]
        best = min(best, value)
        search.tell(Trial(number, config, TrialState.COMPLETED, value=value))
    assert best < 0.02


def test_pending_configurations_are_not_repeated() -> None:
    """Asks without tells after the design give distinct configurations."""
    search = ForestSearch(SPACE, seed=2, n_trees=8, random_fraction=0.0)
    run(search, 10)
    configs = [search.ask() for _ in range(5)]
    assert len({tuple(sorted(c.items())) for c in configs if c is not None}) == 5


def test_bad_options_are_refused() -> None:
    """random_fraction must lie in [0, 1] and n_trees be at least 1."""
    with pytest.raises(ConfigError, match="random_fraction"):
        make_strategy("forest", SPACE, options={"random_fraction": 1.5})
    with pytest.raises(ConfigError, match="n_trees"):
        make_strategy("forest", SPACE, options={"n_trees": 0})
