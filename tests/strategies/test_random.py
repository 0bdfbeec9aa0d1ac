"""Random search: the contract, and that its draws are spread as the space says."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space import (
    Categorical,
    Equals,
    Float,
    Int,
    LessThan,
    SearchSpace,
)
from tuneforge.strategies import Config, make_strategy
from tuneforge.strategies.random import RandomSearch
from tuneforge.testing.strategies import StrategyContract, StrategyFactory, ask_many


class TestRandomContract(StrategyContract):
    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: RandomSearch(space, seed=seed)


def draws(space: SearchSpace, n: int = 2000, seed: int = 0) -> list[Config]:
    configs = ask_many(RandomSearch(space, seed=seed), n)
    return [c for c in configs if c is not None]


def test_never_exhausted() -> None:
    """Random search has no size and always proposes a configuration."""
    search = RandomSearch(SearchSpace({"n": Int(1, 2)}), seed=0)
    assert search.n_configurations is None
    assert None not in ask_many(search, 50)


def test_floats_are_uniform() -> None:
    """A linear float is drawn uniformly: its mean and quartiles match the uniform law."""
    values = np.array([c["x"] for c in draws(SearchSpace({"x": Float(-1.0, 3.0)}))])
    assert values.min() >= -1.0 and values.max() <= 3.0
    assert values.mean() == pytest.approx(1.0, abs=0.1)
    assert np.quantile(values, [0.25, 0.75]) == pytest.approx([0.0, 2.0], abs=0.15)


def test_log_floats_are_log_uniform() -> None:
    """A log float is uniform in log space: each decade gets about the same share."""
    values = np.array([c["lr"] for c in draws(SearchSpace({"lr": Float(1e-4, 1.0, log=True)}))])
    decades = np.floor(np.log10(values)).clip(-4, -1)
    shares = [np.mean(decades == d) for d in (-4, -3, -2, -1)]
    assert shares == pytest.approx([0.25] * 4, abs=0.05)


def test_ints_take_every_value_about_equally_often() -> None:
    """Every integer of the range, the ends included, is drawn about equally often."""
    values = [c["n"] for c in draws(SearchSpace({"n": Int(1, 4)}))]
    counts = [values.count(v) / len(values) for v in (1, 2, 3, 4)]
    assert counts == pytest.approx([0.25] * 4, abs=0.05)


def test_categoricals_take_every_value_about_equally_often() -> None:
    """Every categorical value is drawn about equally often."""
    values = [c["c"] for c in draws(SearchSpace({"c": Categorical(["a", "b", "c"])}))]
    assert [values.count(v) / len(values) for v in "abc"] == pytest.approx([1 / 3] * 3, abs=0.05)


def test_conditional_parameters_are_left_out_when_inactive() -> None:
    """A child appears exactly when its condition holds, about as often as the parent value."""
    space = SearchSpace(
        {"opt": Categorical(["sgd", "adam"]), "momentum": Float(0.0, 1.0, when={"opt": "sgd"})}
    )
    configs = draws(space)
    assert all(("momentum" in c) == (c["opt"] == "sgd") for c in configs)
    assert np.mean([c["opt"] == "sgd" for c in configs]) == pytest.approx(0.5, abs=0.05)


def test_forbidden_configurations_are_never_proposed() -> None:
    """Draws a forbidden clause matches are redrawn."""
    space = SearchSpace({"n": Int(1, 4)}, forbidden=[Equals("n", 2)])
    values = {c["n"] for c in draws(space, 500)}
    assert values == {1, 3, 4}


def test_everything_forbidden_raises_space_error() -> None:
    """When the forbidden clauses exclude the whole space ask raises SpaceError."""
    space = SearchSpace({"x": Float(0.0, 1.0)}, forbidden=[LessThan("x", 2.0)])
    with pytest.raises(SpaceError, match="exclude"):
        RandomSearch(space, seed=0).ask()


def test_has_no_options() -> None:
    """make_strategy('random') rejects options, naming them."""
    space = SearchSpace({"x": Float(0.0, 1.0)})
    assert isinstance(make_strategy("random", space, seed=1), RandomSearch)
    expected = r"has no option\(s\) \['grid_points'\]; its options: none"
    with pytest.raises(ConfigError, match=expected):
        make_strategy("random", space, options={"grid_points": 3})


def test_values_are_plain_python_scalars() -> None:
    """Configurations hold Python floats and ints, not numpy scalars (they go to JSON and SQL)."""
    space = SearchSpace({"x": Float(0.0, 1.0), "n": Int(1, 9), "c": Categorical([1.5, "a"])})
    for config in draws(space, 20):
        assert type(config["x"]) is float and type(config["n"]) is int
        assert type(config["c"]) in (float, str)
        assert all(math.isfinite(v) for v in (config["x"], config["n"]))
