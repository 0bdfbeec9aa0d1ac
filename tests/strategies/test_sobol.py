"""Sobol search: the contract, and that its points cover the unit cube evenly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import qmc

from tuneforge.errors import SpaceError
from tuneforge.space import Categorical, Float, Int, LessThan, SearchSpace
from tuneforge.strategies.sobol import SobolSearch
from tuneforge.testing.strategies import StrategyContract, StrategyFactory, ask_many


class TestSobolContract(StrategyContract):
    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: SobolSearch(space, seed=seed)


def unit_space(d: int) -> SearchSpace:
    """Floats on [0, 1], so configurations are the unit points themselves."""
    return SearchSpace({f"x{i}": Float(0.0, 1.0) for i in range(d)})


def points(search: SobolSearch, n: int) -> np.ndarray:
    configs = ask_many(search, n)
    return np.array([[c[name] for name in search.space.names] for c in configs if c is not None])


def test_covers_every_cell_of_the_cube() -> None:
    """64 points in 3 dimensions put exactly 8 in each octant and one in each of 64 slices."""
    sample = points(SobolSearch(unit_space(3), seed=0), 64)
    octants = (sample >= 0.5).astype(int) @ np.array([4, 2, 1])
    assert np.bincount(octants, minlength=8).tolist() == [8] * 8
    for column in sample.T:
        assert sorted(np.floor(column * 64).astype(int).tolist()) == list(range(64))


def test_every_square_of_a_2d_net_holds_one_point() -> None:
    """16 points in 2 dimensions form a (0, 4, 2)-net: one point in each 4 x 4 cell."""
    sample = points(SobolSearch(unit_space(2), seed=5), 16)
    cells = {(int(x * 4), int(y * 4)) for x, y in sample}
    assert len(cells) == 16


def test_more_even_than_random_points() -> None:
    """The centred discrepancy of 128 Sobol points is below that of 128 random points."""
    sobol = points(SobolSearch(unit_space(4), seed=1), 128)
    random = np.random.default_rng(1).random((128, 4))
    assert qmc.discrepancy(sobol) < qmc.discrepancy(random)


def test_asking_one_at_a_time_raises_no_power_of_two_warning() -> None:
    """Asking any number of points never triggers scipy's power-of-two warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ask_many(SobolSearch(unit_space(2), seed=0), 3)
        ask_many(SobolSearch(unit_space(2), seed=0), 100)


def test_sequence_continues_past_a_block() -> None:
    """Points after the first buffered block are new points, not a repeat."""
    sample = points(SobolSearch(unit_space(2), seed=0), 200)
    assert len({tuple(p) for p in sample}) == 200


def test_forbidden_points_are_skipped() -> None:
    """Points a forbidden clause matches are skipped, never proposed."""
    space = SearchSpace(
        {"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)}, forbidden=[LessThan("x", 0.5)]
    )
    configs = ask_many(SobolSearch(space, seed=0), 40)
    assert all(c is not None and float(c["x"]) >= 0.5 for c in configs)


def test_everything_forbidden_raises_space_error() -> None:
    """When every point is forbidden ask raises SpaceError instead of looping forever."""
    space = SearchSpace({"x": Float(0.0, 1.0)}, forbidden=[LessThan("x", 2.0)])
    with pytest.raises(SpaceError, match="sobol: 10000 points in a row were forbidden"):
        SobolSearch(space, seed=0).ask()


def test_discrete_parameters_are_stratified_too() -> None:
    """Over 16 points an int with 4 values and a 4-value categorical take each value 4 times."""
    space = SearchSpace({"n": Int(1, 4), "c": Categorical(["a", "b", "c", "d"])})
    configs = [c for c in ask_many(SobolSearch(space, seed=2), 16) if c is not None]
    assert sorted(c["n"] for c in configs) == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4
    assert sorted(c["c"] for c in configs) == sorted("abcd" * 4)


def test_space_without_parameters_proposes_the_empty_configuration() -> None:
    """A space with no parameters gets {} every time (scipy has no 0-d engine)."""
    search = SobolSearch(SearchSpace({}), seed=0)
    assert ask_many(search, 3) == [{}, {}, {}]
    assert search.n_configurations is None
