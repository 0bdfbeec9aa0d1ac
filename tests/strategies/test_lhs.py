"""Latin hypercube search: the contract, and the stratification of its designs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space import Categorical, Equals, Float, Int, LessThan, SearchSpace
from tuneforge.strategies import Config, make_strategy
from tuneforge.strategies.lhs import DEFAULT_N_POINTS, LatinHypercubeSearch
from tuneforge.testing.strategies import StrategyContract, StrategyFactory, ask_many


class TestUnboundedLHSContract(StrategyContract):
    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: LatinHypercubeSearch(space, seed=seed)


class TestOneDesignLHSContract(StrategyContract):
    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: LatinHypercubeSearch(space, seed=seed, n_points=20)


SPACE = SearchSpace(
    {
        "x": Float(0.0, 10.0),
        "lr": Float(1e-5, 1e-1, log=True),
        "n": Int(1, 10),
        "c": Categorical(["a", "b", "c", "d", "e"]),
    }
)


def assert_stratified(configs: list[Config]) -> None:
    """Each axis cut into len(configs) cells holds exactly one point per cell."""
    n = len(configs)
    assert n == 10
    assert sorted(math.floor(float(c["x"])) for c in configs) == list(range(10))
    cells = [math.floor(2.5 * (math.log10(float(c["lr"])) + 5)) for c in configs]
    assert sorted(cells) == list(range(10))
    assert sorted(int(c["n"]) for c in configs) == list(range(1, 11))
    assert sorted(str(c["c"]) for c in configs) == sorted("abcde" * 2)


def test_one_design_is_stratified_on_every_parameter() -> None:
    """10 points: one per tenth of each float (log too), each int once, each category twice."""
    configs = ask_many(LatinHypercubeSearch(SPACE, seed=0, n_points=10), 10)
    assert_stratified([c for c in configs if c is not None])


def test_one_design_ends_after_n_points() -> None:
    """With n_points the strategy runs that many configurations, then returns None."""
    search = LatinHypercubeSearch(SPACE, seed=0, n_points=10)
    assert search.n_configurations == 10
    assert None not in ask_many(search, 10)
    assert ask_many(search, 2) == [None, None]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unbounded_runs_one_complete_design_after_another(seed: int) -> None:
    """Without n_points every block of DEFAULT_N_POINTS trials is a Latin hypercube."""
    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    search = LatinHypercubeSearch(space, seed=seed)
    assert search.n_configurations is None
    for _ in range(2):
        block = [c for c in ask_many(search, DEFAULT_N_POINTS) if c is not None]
        for name in ("x", "y"):
            cells = sorted(math.floor(float(c[name]) * DEFAULT_N_POINTS) for c in block)
            assert cells == list(range(DEFAULT_N_POINTS))


def test_designs_differ_from_block_to_block() -> None:
    """Consecutive designs are fresh draws, not the same design again."""
    search = LatinHypercubeSearch(SearchSpace({"x": Float(0.0, 1.0)}), seed=0)
    first = ask_many(search, DEFAULT_N_POINTS)
    second = ask_many(search, DEFAULT_N_POINTS)
    assert first != second


def test_forbidden_points_are_dropped_and_counted() -> None:
    """Forbidden points are left out, and n_configurations counts only the others."""
    space = SearchSpace({"n": Int(1, 10)}, forbidden=[Equals("n", 3)])
    search = LatinHypercubeSearch(space, seed=0, n_points=10)
    assert search.n_configurations == 9
    configs = ask_many(search, 10)
    assert sorted(c["n"] for c in configs[:9] if c is not None) == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    assert configs[9] is None


def test_everything_forbidden() -> None:
    """A fully forbidden space: one design is empty, the unbounded strategy raises SpaceError."""
    space = SearchSpace({"x": Float(0.0, 1.0)}, forbidden=[LessThan("x", 2.0)])
    assert LatinHypercubeSearch(space, seed=0, n_points=5).n_configurations == 0
    with pytest.raises(SpaceError, match="lhs: 10000 points in a row were forbidden"):
        LatinHypercubeSearch(space, seed=0).ask()


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "10"])
def test_bad_n_points_is_a_config_error(value: object) -> None:
    """n_points must be an int >= 1 or None; the error names the option and the value."""
    with pytest.raises(ConfigError, match=r"strategy_options.n_points: expected an int >= 1"):
        LatinHypercubeSearch(SPACE, n_points=value)  # type: ignore[arg-type]


def test_built_by_name_with_n_points() -> None:
    """make_strategy('lhs', options={'n_points': N}) builds a design of N points."""
    search = make_strategy("lhs", SPACE, seed=0, options={"n_points": 7})
    assert search.n_configurations == 7


def test_conditional_children_are_stratified_where_active() -> None:
    """A child's coordinate is still stratified; inactive rows just leave it out."""
    space = SearchSpace(
        {"opt": Categorical(["sgd", "adam"]), "m": Float(0.0, 1.0, when={"opt": "sgd"})}
    )
    configs = [c for c in ask_many(LatinHypercubeSearch(space, seed=4, n_points=10), 10) if c]
    assert sum(c["opt"] == "sgd" for c in configs) == 5
    cells = [math.floor(float(c["m"]) * 10) for c in configs if "m" in c]
    assert len(set(cells)) == len(cells) == 5


def test_space_without_parameters_proposes_the_empty_configuration() -> None:
    """A space with no parameters gets {} (scipy has no 0-d engine)."""
    search = LatinHypercubeSearch(SearchSpace({}), seed=0, n_points=2)
    assert ask_many(search, 3) == [{}, {}, None]


def test_points_are_seeded() -> None:
    """The same seed gives the same design; the design uses numpy Generator draws only."""
    a = ask_many(LatinHypercubeSearch(SPACE, seed=9, n_points=10), 10)
    b = ask_many(LatinHypercubeSearch(SPACE, seed=9, n_points=10), 10)
    assert a == b
    assert np.isfinite([float(c["x"]) for c in a if c is not None]).all()
