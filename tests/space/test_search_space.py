"""SearchSpace: validation, order, defaults, conditions, forbidden clauses, sampling, encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuneforge.errors import SpaceError
from tuneforge.space import (
    AllOf,
    Categorical,
    Condition,
    Equals,
    Float,
    GreaterThan,
    InSet,
    Int,
    LessThan,
    Parameter,
    Scalar,
    SearchSpace,
)
from tuneforge.space.search_space import MAX_REJECTIONS


def optimizer_space() -> SearchSpace:
    return SearchSpace(
        {
            "lr": Float(1e-5, 1e-1, log=True),
            "optimizer": Categorical(["sgd", "adam"]),
            "momentum": Float(0.0, 0.99, when={"optimizer": "sgd"}),
            "nesterov": Categorical([True, False], when=GreaterThan("momentum", 0.5)),
            "layers": Int(1, 4),
        },
        static={"epochs": 10},
        forbidden=[AllOf((Equals("optimizer", "adam"), Equals("layers", 4)))],
    )


# -- validation -----------------------------------------------------------------------------


def test_parameters_must_be_parameters() -> None:
    """A value that is not a Float, Int or Categorical is refused, naming the parameter."""
    expected = r"^parameter 'x' must be a Float, Int or Categorical, got 3\.$"
    with pytest.raises(SpaceError, match=expected):
        SearchSpace({"x": 3})  # type: ignore[dict-item]


def test_names_must_be_non_empty_strings() -> None:
    """An empty parameter name is refused."""
    with pytest.raises(SpaceError, match=r"^parameter names must be non-empty strings, got ''\.$"):
        SearchSpace({"": Float(0.0, 1.0)})


def test_a_name_is_either_a_parameter_or_static() -> None:
    """A name both tuned and static is refused."""
    with pytest.raises(SpaceError, match=r"^\['x'\] are both parameters and static values"):
        SearchSpace({"x": Float(0.0, 1.0)}, static={"x": 1})


def test_condition_on_an_unknown_parameter() -> None:
    """A condition naming no parameter of the space is refused, listing the known ones."""
    with pytest.raises(SpaceError) as info:
        SearchSpace({"momentum": Float(0.0, 1.0, when={"optimizer": "sgd"}), "lr": Float(0.0, 1.0)})
    assert str(info.value) == (
        "the condition of parameter 'momentum' (optimizer == 'sgd') names unknown parameter(s) "
        "['optimizer']; known: ['momentum', 'lr']."
    )


def test_condition_on_itself() -> None:
    """A parameter whose condition reads itself is refused."""
    with pytest.raises(SpaceError, match=r"^parameter 'n' has a condition on itself \(n > 1\)\.$"):
        SearchSpace({"n": Int(1, 3, when=GreaterThan("n", 1))})


def test_conditions_must_not_form_a_cycle() -> None:
    """Conditions that depend on each other in a loop are refused, showing the loop."""
    with pytest.raises(SpaceError, match=r"^conditions form a cycle: a -> b -> c -> a\.$"):
        SearchSpace(
            {
                "a": Int(0, 1, when={"b": 1}),
                "b": Int(0, 1, when={"c": 1}),
                "c": Int(0, 1, when={"a": 1}),
            }
        )


def test_forbidden_clause_on_an_unknown_parameter() -> None:
    """A forbidden clause naming no parameter is refused, listing the known ones."""
    with pytest.raises(SpaceError) as info:
        SearchSpace({"a": Int(0, 1)}, forbidden=[Equals("b", 1)])
    assert str(info.value) == (
        "forbidden clause 'b == 1' names unknown parameter(s) ['b']; known: ['a']."
    )


# -- the mapping interface and ordering -----------------------------------------------------


def test_declaration_order_is_kept_without_conditions() -> None:
    """Without conditions names lists the parameters in the order they were given."""
    space = SearchSpace({"z": Float(0.0, 1.0), "a": Int(1, 2), "m": Categorical(["x"])})
    assert space.names == ["z", "a", "m"]


def test_parents_come_before_their_children() -> None:
    """A child declared before its parent ends up after it."""
    space = SearchSpace(
        {
            "momentum": Float(0.0, 1.0, when={"optimizer": "sgd"}),
            "lr": Float(0.0, 1.0),
            "optimizer": Categorical(["sgd", "adam"]),
            "nesterov": Categorical([True, False], when=GreaterThan("momentum", 0.5)),
            "batch": Int(1, 8),
        }
    )
    names = space.names
    assert sorted(names) == sorted(["momentum", "lr", "optimizer", "nesterov", "batch"])
    assert names.index("optimizer") < names.index("momentum") < names.index("nesterov")
    assert names.index("lr") < names.index("batch")
    assert list(space) == names and len(space) == 5
    assert "lr" in space and "epochs" not in space
    assert space["batch"] == Int(1, 8)


def test_is_conditional() -> None:
    """A space is conditional when any parameter has a condition."""
    assert optimizer_space().is_conditional
    assert not SearchSpace({"x": Float(0.0, 1.0)}).is_conditional


def test_static_values_are_kept_apart() -> None:
    """Static values are stored on the space but are no parameters."""
    space = optimizer_space()
    assert space.static == {"epochs": 10}
    assert "epochs" not in space


def test_to_dict() -> None:
    """to_dict describes parameters, static values and forbidden clauses as plain data."""
    data = optimizer_space().to_dict()
    assert data["parameters"]["momentum"]["when"] == "optimizer == 'sgd'"
    assert data["static"] == {"epochs": 10}
    assert data["forbidden"] == ["optimizer == 'adam' && layers == 4"]


# -- configurations -------------------------------------------------------------------------


def test_default_leaves_inactive_parameters_out() -> None:
    """The default configuration holds the defaults of active parameters only."""
    space = SearchSpace(
        {
            "optimizer": Categorical(["adam", "sgd"]),
            "momentum": Float(0.0, 1.0, when={"optimizer": "sgd"}),
            "beta": Float(0.8, 1.0, default=0.9, when={"optimizer": "adam"}),
        }
    )
    assert space.default() == {"optimizer": "adam", "beta": 0.9}


def test_forbidden_default_is_an_error() -> None:
    """A default configuration that a forbidden clause matches raises SpaceError."""
    space = SearchSpace({"a": Int(0, 2, default=1)}, forbidden=[Equals("a", 1)])
    with pytest.raises(SpaceError, match=r"^the default configuration \{'a': 1\} is forbidden\.$"):
        space.default()


def test_is_active_follows_the_condition_chain() -> None:
    """A child is active when its condition holds; a grandchild of an inactive parent is not."""
    space = optimizer_space()
    assert space.is_active("momentum", {"optimizer": "sgd"})
    assert not space.is_active("momentum", {"optimizer": "adam"})
    assert space.is_active("nesterov", {"optimizer": "sgd", "momentum": 0.9})
    assert not space.is_active("nesterov", {"optimizer": "adam"})


def test_check_returns_the_canonical_configuration_in_order() -> None:
    """check normalises values (1 -> 1.0 for a float) and orders parents first."""
    space = optimizer_space()
    checked = space.check({"layers": 2.0, "momentum": 0, "optimizer": "sgd", "lr": 0.01})
    assert checked == {"lr": 0.01, "optimizer": "sgd", "momentum": 0.0, "layers": 2}
    assert list(checked) == ["lr", "optimizer", "momentum", "layers"]
    assert type(checked["momentum"]) is float and type(checked["layers"]) is int


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"lr": 0.01, "optimizer": "adam", "layers": 2, "dropout": 0.1},
            "unknown parameter(s) ['dropout']; known: ['lr', 'optimizer', 'momentum', 'nesterov', "
            "'layers'].",
        ),
        (
            {"lr": 0.01, "optimizer": "sgd", "layers": 2},
            "parameter 'momentum' is active but has no value.",
        ),
        (
            {"lr": 0.01, "optimizer": "adam", "momentum": 0.5, "layers": 2},
            "parameter 'momentum' is inactive here (optimizer == 'sgd') but was given 0.5; "
            "leave it out.",
        ),
        (
            {"lr": 1.0, "optimizer": "adam", "layers": 2},
            "parameter 'lr' must lie in [1e-05, 0.1], got 1.0.",
        ),
        (
            {"lr": 0.01, "optimizer": "adam", "layers": 4},
            "configuration {'lr': 0.01, 'optimizer': 'adam', 'layers': 4} is forbidden by "
            "'optimizer == 'adam' && layers == 4'.",
        ),
    ],
)
def test_check_names_the_first_problem(config: dict[str, object], message: str) -> None:
    """check raises SpaceError saying what is wrong with the configuration."""
    with pytest.raises(SpaceError) as info:
        optimizer_space().check(config)
    assert str(info.value) == message


def test_is_forbidden() -> None:
    """is_forbidden is true when any forbidden clause holds."""
    space = optimizer_space()
    assert space.is_forbidden({"optimizer": "adam", "layers": 4})
    assert not space.is_forbidden({"optimizer": "sgd", "layers": 4})


# -- sampling -------------------------------------------------------------------------------


def test_sample_is_seeded() -> None:
    """The same generator seed gives the same samples."""
    space = optimizer_space()
    first = [space.sample(np.random.default_rng(3)) for _ in range(5)]
    assert first == [space.sample(np.random.default_rng(3)) for _ in range(5)]


def test_sample_respects_conditions_and_forbidden_clauses() -> None:
    """Samples hold exactly the active parameters and never a forbidden combination."""
    space = optimizer_space()
    rng = np.random.default_rng(0)
    for _ in range(500):
        config = space.sample(rng)
        assert ("momentum" in config) == (config["optimizer"] == "sgd")
        assert ("nesterov" in config) == (config.get("momentum", 0.0) > 0.5)  # type: ignore[operator]
        assert not (config["optimizer"] == "adam" and config["layers"] == 4)


def test_infeasible_forbidden_clauses_raise() -> None:
    """When forbidden clauses exclude every configuration, sample raises SpaceError."""
    space = SearchSpace({"n": Int(1, 3)}, forbidden=[LessThan("n", 10)])
    with pytest.raises(SpaceError) as info:
        space.sample(np.random.default_rng(0))
    assert str(info.value) == (
        f"no valid configuration found in {MAX_REJECTIONS} random draws: the forbidden clauses "
        f"['n < 10'] exclude (almost) the whole space."
    )


def test_space_without_parameters_samples_the_empty_configuration() -> None:
    """A space with no parameters has one configuration, {}."""
    space = SearchSpace({}, static={"epochs": 1})
    assert space.sample(np.random.default_rng(0)) == {}
    assert space.default() == {}


# -- encoding -------------------------------------------------------------------------------


def test_decode_needs_one_coordinate_per_parameter() -> None:
    """A point of the wrong length is refused, saying how many coordinates are needed."""
    with pytest.raises(SpaceError, match=r"^a point needs 5 coordinates, got 2\.$"):
        optimizer_space().decode([0.5, 0.5])


def test_decode_ignores_coordinates_of_inactive_parameters() -> None:
    """Coordinates of inactive parameters (even NaN) do not matter."""
    space = optimizer_space()
    config = space.decode([0.5, 0.75, math.nan, math.nan, 0.0])
    assert config == {"lr": pytest.approx(1e-3), "optimizer": "adam", "layers": 1}


def test_encode_marks_inactive_parameters_nan() -> None:
    """encode gives NaN for inactive parameters and cell centres for discrete values."""
    point = optimizer_space().encode({"lr": 1e-3, "optimizer": "adam", "layers": 1})
    assert point[0] == pytest.approx(0.5)
    assert point[1] == 0.75 and point[4] == 0.125
    assert math.isnan(point[2]) and math.isnan(point[3])


# -- properties -----------------------------------------------------------------------------


CATEGORIES: list[Scalar] = ["a", "b", "c", 1, 2.5, True, False]


@st.composite
def spaces(draw: st.DrawFn) -> SearchSpace:
    """Random spaces: mixed parameters, conditions on earlier discrete ones, a forbidden value."""
    parameters: dict[str, Parameter] = {}
    discrete: list[str] = []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["float", "int", "categorical"]))
        when: Condition | None = None
        conditional = draw(st.booleans())
        if discrete and conditional:
            parent = draw(st.sampled_from(discrete))
            value = parameters[parent].from_unit(draw(st.floats(0.0, 1.0)))
            when = Equals(parent, value) if draw(st.booleans()) else InSet(parent, (value,))
        name = f"p{i}"
        if kind == "float":
            log = draw(st.booleans())
            low = draw(st.floats(1e-4, 10.0)) if log else draw(st.floats(-10.0, 10.0))
            parameters[name] = Float(low, low + draw(st.floats(1e-3, 100.0)), log=log, when=when)
        elif kind == "int":
            log = draw(st.booleans())
            low = draw(st.integers(1 if log else -20, 20))
            parameters[name] = Int(low, low + draw(st.integers(1, 50)), log=log, when=when)
        else:
            values = draw(
                st.lists(
                    st.sampled_from(CATEGORIES),
                    min_size=1,
                    max_size=5,
                    unique_by=lambda v: (type(v), v),
                )
            )
            parameters[name] = Categorical(values, when=when)
        if kind != "float":
            discrete.append(name)
    forbidden = []
    with_forbidden = draw(st.booleans())
    if discrete and with_forbidden:
        target = draw(st.sampled_from(discrete))
        options = parameters[target].grid(3)
        if len(options) > 1:
            forbidden.append(Equals(target, options[0]))
    return SearchSpace(parameters, forbidden=forbidden)


@settings(max_examples=60, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_samples_lie_in_the_space(space: SearchSpace, seed: int) -> None:
    """check accepts every sample unchanged."""
    rng = np.random.default_rng(seed)
    for _ in range(10):
        config = space.sample(rng)
        assert space.check(config) == config


@settings(max_examples=60, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_decode_inverts_encode(space: SearchSpace, seed: int) -> None:
    """decode(encode(c)) gives c back: discrete values exactly, floats up to rounding."""
    rng = np.random.default_rng(seed)
    for _ in range(10):
        config = space.sample(rng)
        back = space.decode(space.encode(config))
        assert back.keys() == config.keys()
        for name, value in config.items():
            if isinstance(space[name], Float):
                assert back[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
            else:
                assert back[name] == value and type(back[name]) is type(value)


@settings(max_examples=60, deadline=None)
@given(spaces(), st.lists(st.floats(allow_nan=False), min_size=6, max_size=6))
def test_any_point_decodes_to_an_allowed_or_forbidden_configuration(
    space: SearchSpace, point: list[float]
) -> None:
    """Every point of R^d decodes to a configuration check accepts, unless it is forbidden."""
    config = space.decode(point[: len(space)])
    if not space.is_forbidden(config):
        assert space.check(config) == config
