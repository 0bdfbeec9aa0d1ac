"""Grid search: the contract, the exact grid, conditional and forbidden grids, and its guard."""

from __future__ import annotations

import itertools

import pytest

from tuneforge.errors import ConfigError
from tuneforge.space import (
    AllOf,
    Categorical,
    Equals,
    Float,
    GreaterThan,
    InSet,
    Int,
    LessThan,
    SearchSpace,
)
from tuneforge.strategies import Config, make_strategy
from tuneforge.strategies.grid import MAX_GRID_SIZE, GridSearch
from tuneforge.testing.strategies import StrategyContract, StrategyFactory, ask_many
from tuneforge.trial import Trial, TrialState


class TestGridContract(StrategyContract):
    deterministic = True

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: GridSearch(space, seed=seed)


class TestSampledGridContract(StrategyContract):
    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: GridSearch(space, seed=seed, grid_points=3, sample=True)


def everything(grid: GridSearch) -> list[Config]:
    configs = ask_many(grid, grid.n_configurations)
    assert grid.ask() is None
    return [c for c in configs if c is not None]


def test_float_gets_grid_points_evenly_spaced_values() -> None:
    """A float contributes grid_points values from low to high, both included."""
    grid = GridSearch(SearchSpace({"x": Float(0.0, 1.0)}), grid_points=5)
    assert everything(grid) == [{"x": v} for v in (0.0, 0.25, 0.5, 0.75, 1.0)]


def test_log_float_values_are_log_spaced() -> None:
    """A log-scaled float contributes values evenly spaced in log space."""
    grid = GridSearch(SearchSpace({"lr": Float(1e-4, 1.0, log=True)}), grid_points=5)
    values = [c["lr"] for c in everything(grid)]
    assert values == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0], rel=1e-9)


def test_int_with_few_values_takes_them_all() -> None:
    """An int with at most grid_points values contributes every one of them."""
    grid = GridSearch(SearchSpace({"n": Int(1, 3)}), grid_points=5)
    assert everything(grid) == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_int_with_many_values_takes_grid_points_spread() -> None:
    """An int with more than grid_points values contributes grid_points spread values."""
    grid = GridSearch(SearchSpace({"n": Int(1, 100)}), grid_points=5)
    assert [c["n"] for c in everything(grid)] == [1, 26, 50, 75, 100]


def test_log_int_values_are_log_spaced() -> None:
    """A log-scaled int contributes log-spaced values."""
    grid = GridSearch(SearchSpace({"n": Int(1, 10_000, log=True)}), grid_points=5)
    assert [c["n"] for c in everything(grid)] == [1, 10, 100, 1000, 10_000]


def test_categorical_takes_every_value() -> None:
    """A categorical contributes all its values whatever grid_points is."""
    grid = GridSearch(SearchSpace({"opt": Categorical(["sgd", "adam", "rmsprop"])}), grid_points=1)
    assert everything(grid) == [{"opt": "sgd"}, {"opt": "adam"}, {"opt": "rmsprop"}]


def test_one_grid_point_is_the_default() -> None:
    """With grid_points=1 a float or a wide int contributes only its default."""
    space = SearchSpace({"x": Float(0.0, 1.0, default=0.3), "n": Int(1, 100, default=7)})
    assert everything(GridSearch(space, grid_points=1)) == [{"x": 0.3, "n": 7}]


def test_first_parameter_varies_slowest() -> None:
    """The grid is the product in declaration order, the last parameter varying fastest."""
    space = SearchSpace(
        {"a": Categorical(["x", "y"]), "b": Int(1, 3), "c": Categorical([True, False])}
    )
    expected = [
        {"a": a, "b": b, "c": c}
        for a, b, c in itertools.product(["x", "y"], [1, 2, 3], [True, False])
    ]
    grid = GridSearch(space)
    assert grid.n_configurations == 12
    assert everything(grid) == expected


def test_size_is_the_product_of_the_value_counts() -> None:
    """An unconditional grid has as many configurations as the product of the value counts."""
    space = SearchSpace(
        {"x": Float(0.0, 1.0), "n": Int(1, 4), "m": Int(1, 50), "c": Categorical(["a", "b", "c"])}
    )
    assert GridSearch(space, grid_points=5).n_configurations == 5 * 4 * 5 * 3
    assert GridSearch(space, grid_points=2).n_configurations == 2 * 2 * 2 * 3


def test_conditional_grid_holds_active_configurations_only() -> None:
    """Inactive parameters contribute no values, so the grid has no duplicates."""
    space = SearchSpace(
        {
            "optimizer": Categorical(["sgd", "adam"]),
            "momentum": Float(0.0, 0.5, when={"optimizer": "sgd"}),
            "layers": Int(1, 2),
            "width2": Categorical([16, 32], when=GreaterThan("layers", 1)),
        }
    )
    grid = GridSearch(space, grid_points=2)
    expected = [
        {"optimizer": "sgd", "momentum": 0.0, "layers": 1},
        {"optimizer": "sgd", "momentum": 0.0, "layers": 2, "width2": 16},
        {"optimizer": "sgd", "momentum": 0.0, "layers": 2, "width2": 32},
        {"optimizer": "sgd", "momentum": 0.5, "layers": 1},
        {"optimizer": "sgd", "momentum": 0.5, "layers": 2, "width2": 16},
        {"optimizer": "sgd", "momentum": 0.5, "layers": 2, "width2": 32},
        {"optimizer": "adam", "layers": 1},
        {"optimizer": "adam", "layers": 2, "width2": 16},
        {"optimizer": "adam", "layers": 2, "width2": 32},
    ]
    assert grid.n_configurations == 9
    assert everything(grid) == expected


def test_nested_conditions_leave_out_grandchildren_of_inactive_parents() -> None:
    """A child of an inactive parent is inactive too, so it adds no configurations."""
    space = SearchSpace(
        {
            "model": Categorical(["linear", "tree"]),
            "depth": Int(1, 3, when={"model": "tree"}),
            "split": Categorical(["gini", "entropy"], when=GreaterThan("depth", 1)),
        }
    )
    configs = everything(GridSearch(space))
    assert configs == [
        {"model": "linear"},
        {"model": "tree", "depth": 1},
        {"model": "tree", "depth": 2, "split": "gini"},
        {"model": "tree", "depth": 2, "split": "entropy"},
        {"model": "tree", "depth": 3, "split": "gini"},
        {"model": "tree", "depth": 3, "split": "entropy"},
    ]


def test_a_parameter_declared_before_the_condition_parent_still_varies_slowest() -> None:
    """Declaration order decides the order even when a later parameter is a parent."""
    space = SearchSpace(
        {
            "lr": Categorical([0.1, 0.01]),
            "optimizer": Categorical(["sgd", "adam"]),
            "momentum": Categorical([0.0, 0.9], when={"optimizer": "sgd"}),
        }
    )
    assert everything(GridSearch(space)) == [
        {"lr": 0.1, "optimizer": "sgd", "momentum": 0.0},
        {"lr": 0.1, "optimizer": "sgd", "momentum": 0.9},
        {"lr": 0.1, "optimizer": "adam"},
        {"lr": 0.01, "optimizer": "sgd", "momentum": 0.0},
        {"lr": 0.01, "optimizer": "sgd", "momentum": 0.9},
        {"lr": 0.01, "optimizer": "adam"},
    ]


def test_forbidden_combinations_are_left_out() -> None:
    """Configurations a forbidden clause matches are not in the grid nor in its size."""
    space = SearchSpace(
        {"kernel": Categorical(["linear", "poly"]), "degree": Int(1, 3)},
        forbidden=[AllOf((Equals("kernel", "linear"), GreaterThan("degree", 1)))],
    )
    grid = GridSearch(space)
    assert grid.n_configurations == 4
    assert everything(grid) == [
        {"kernel": "linear", "degree": 1},
        {"kernel": "poly", "degree": 1},
        {"kernel": "poly", "degree": 2},
        {"kernel": "poly", "degree": 3},
    ]


def test_forbidden_clause_on_a_conditional_parameter() -> None:
    """A forbidden clause on a child only removes configurations where the child is active."""
    space = SearchSpace(
        {
            "optimizer": Categorical(["sgd", "adam"]),
            "momentum": Categorical([0.0, 0.9], when={"optimizer": "sgd"}),
        },
        forbidden=[Equals("momentum", 0.0)],
    )
    assert everything(GridSearch(space)) == [
        {"optimizer": "sgd", "momentum": 0.9},
        {"optimizer": "adam"},
    ]


def test_everything_forbidden_gives_an_empty_grid() -> None:
    """When every configuration is forbidden the grid is empty and ask returns None."""
    space = SearchSpace({"n": Int(1, 3)}, forbidden=[LessThan("n", 10)])
    grid = GridSearch(space)
    assert grid.n_configurations == 0
    assert ask_many(grid, 2) == [None, None]


def test_space_without_parameters_has_one_empty_configuration() -> None:
    """A space with no parameters has exactly one configuration, {}."""
    grid = GridSearch(SearchSpace({}, static={"epochs": 3}))
    assert grid.n_configurations == 1
    assert ask_many(grid, 2) == [{}, None]


def test_booleans_and_numbers_are_distinct_categorical_values() -> None:
    """A categorical holding both 1 and True gives both, each with its own children."""
    space = SearchSpace(
        {"v": Categorical([1, True]), "x": Categorical(["a", "b"], when={"v": True})}
    )
    configs = everything(GridSearch(space))
    assert configs == [{"v": 1}, {"v": True, "x": "a"}, {"v": True, "x": "b"}]
    assert type(configs[0]["v"]) is int
    assert configs[1]["v"] is True


def test_sample_visits_the_same_grid_in_a_seeded_random_order() -> None:
    """sample=True proposes every configuration once, in an order fixed by the seed."""
    space = SearchSpace({"a": Int(1, 4), "b": Categorical(["x", "y", "z"])})
    ordered = everything(GridSearch(space))
    shuffled = everything(GridSearch(space, seed=3, sample=True))
    assert shuffled != ordered
    assert sorted(map(repr, shuffled)) == sorted(map(repr, ordered))
    assert everything(GridSearch(space, seed=3, sample=True)) == shuffled


def test_sampling_part_of_a_grid_spreads_over_it() -> None:
    """The first configurations of a sampled grid are distinct and not just the first rows."""
    space = SearchSpace({"a": Int(1, 10), "b": Int(1, 10)})
    first = ask_many(GridSearch(space, seed=0, grid_points=10, sample=True), 10)
    assert len({repr(c) for c in first}) == 10
    assert len({c["a"] for c in first if c is not None}) > 1


def test_gigantic_grid_is_refused_with_its_size() -> None:
    """A grid over the size limit raises ConfigError naming the size and what to do."""
    space = SearchSpace({f"x{i}": Float(0.0, 1.0) for i in range(12)})
    expected = r"has 244,140,625 configurations \(grid_points=5\)"
    with pytest.raises(ConfigError, match=expected) as info:
        GridSearch(space)
    assert f"{MAX_GRID_SIZE:,}" in str(info.value)
    assert "fewer grid_points" in str(info.value)
    assert "random, sobol, lhs" in str(info.value)


def test_big_conditional_bound_with_a_small_active_grid_is_allowed() -> None:
    """Only active configurations count toward the limit, not the product of all dimensions."""
    parameters: dict[str, Float | Categorical] = {"branch": Categorical(["a", "b", "c"])}
    for branch in "abc":
        for i in range(6):
            parameters[f"{branch}{i}"] = Float(0.0, 1.0, when={"branch": branch})
    grid = GridSearch(SearchSpace(parameters), grid_points=10)
    assert grid.n_configurations == 3 * 10**6
    assert grid.ask() == {"branch": "a", **{f"a{i}": 0.0 for i in range(6)}}


def test_grid_too_large_to_enumerate_is_refused() -> None:
    """Forbidden clauses over many fine dimensions raise ConfigError instead of counting forever."""
    names = [f"x{i}" for i in range(7)]
    space = SearchSpace(
        {name: Float(0.0, 1.0) for name in names},
        forbidden=[AllOf(tuple(LessThan(name, -1.0) for name in names))],
    )
    with pytest.raises(ConfigError, match="too large to enumerate"):
        GridSearch(space, grid_points=10)


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "5"])
def test_bad_grid_points_is_a_config_error(value: object) -> None:
    """grid_points must be an int >= 1; the error names the option and the value."""
    space = SearchSpace({"x": Float(0.0, 1.0)})
    with pytest.raises(ConfigError, match=r"strategy_options.grid_points: expected an int >= 1"):
        GridSearch(space, grid_points=value)  # type: ignore[arg-type]


def test_sample_must_be_a_boolean() -> None:
    """sample must be true or false."""
    with pytest.raises(ConfigError, match="strategy_options.sample: expected true or false"):
        GridSearch(SearchSpace({"x": Float(0.0, 1.0)}), sample="yes")  # type: ignore[arg-type]


def test_built_by_name_with_options() -> None:
    """make_strategy('grid', ...) passes grid_points and sample through."""
    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    grid = make_strategy("grid", space, seed=0, options={"grid_points": 3, "sample": True})
    assert isinstance(grid, GridSearch)
    assert grid.n_configurations == 9


def test_restore_skips_configurations_already_run() -> None:
    """Resuming a grid continues after the configurations the first run proposed."""
    space = SearchSpace({"n": Int(1, 5)})
    trials = [Trial(i, {"n": i + 1}, TrialState.COMPLETED, value=0.0) for i in range(3)]
    grid = GridSearch(space)
    grid.restore(trials)
    assert ask_many(grid, 3) == [{"n": 4}, {"n": 5}, None]


def test_inset_condition_on_an_int_parent() -> None:
    """A child active for some values of an int parent appears only with those values."""
    space = SearchSpace({"n": Int(1, 3), "extra": Categorical(["p", "q"], when=InSet("n", (1, 3)))})
    assert everything(GridSearch(space)) == [
        {"n": 1, "extra": "p"},
        {"n": 1, "extra": "q"},
        {"n": 2},
        {"n": 3, "extra": "p"},
        {"n": 3, "extra": "q"},
    ]
