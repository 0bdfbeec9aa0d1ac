"""Float, Int and Categorical: validation and its wording, defaults, checks, unit mapping, grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuneforge.errors import SpaceError
from tuneforge.space import Categorical, Equals, Float, Int, Parameter

# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [Float, Int])
@pytest.mark.parametrize(("low", "high"), [(1, 1), (5, 2)])
def test_low_must_be_below_high(kind: type[Float] | type[Int], low: int, high: int) -> None:
    """low >= high is refused on the 'low' field, naming both bounds."""
    with pytest.raises(SpaceError) as info:
        kind(low, high)
    assert str(info.value) == (
        f"{kind.__name__}: 'low < high' must hold, but got low={low}, high={high}."
    )
    assert info.value.field == "low"


@pytest.mark.parametrize("kind", [Float, Int])
@pytest.mark.parametrize("low", [0, -1])
def test_log_scale_needs_positive_low(kind: type[Float] | type[Int], low: int) -> None:
    """A log scale with low <= 0 is refused on the 'low' field."""
    with pytest.raises(SpaceError) as info:
        kind(low, 10, log=True)
    assert str(info.value) == f"{kind.__name__}: a log scale needs low > 0, but got low={low}."
    assert info.value.field == "low"


@pytest.mark.parametrize(
    ("low", "high", "field", "bad"),
    [
        (math.inf, 1.0, "low", "inf"),
        (0.0, math.nan, "high", "nan"),
        ("0", 1.0, "low", "'0'"),
        (0.0, True, "high", "True"),
        (None, 1.0, "low", "None"),
    ],
)
def test_float_bounds_must_be_finite_numbers(
    low: object, high: object, field: str, bad: str
) -> None:
    """Non-numeric, boolean or infinite bounds are refused, naming the bound."""
    with pytest.raises(SpaceError) as info:
        Float(low, high)  # type: ignore[arg-type]
    assert str(info.value) == f"Float: '{field}' must be a finite number, got {bad}."
    assert info.value.field == field


def test_int_bounds_must_be_integers() -> None:
    """A fractional bound of an Int is refused; integral floats are accepted as ints."""
    with pytest.raises(SpaceError, match=r"^Int: 'high' must be an integer, got 2.5\.$") as info:
        Int(1, 2.5)  # type: ignore[arg-type]
    assert info.value.field == "high"
    parameter = Int(1.0, 4.0)  # type: ignore[arg-type]
    assert (parameter.low, parameter.high) == (1, 4)
    assert type(parameter.low) is int


@pytest.mark.parametrize(
    ("parameter", "default", "message"),
    [
        (lambda d: Float(0.0, 1.0, default=d), 2.0, "default must lie in [0.0, 1.0], got 2.0."),
        (
            lambda d: Float(0.0, 1.0, default=d),
            "a",
            "default must be a finite number in [0.0, 1.0], got 'a'.",
        ),
        (lambda d: Int(1, 3, default=d), 7, "default must lie in [1, 3], got 7."),
        (lambda d: Int(1, 3, default=d), 2.5, "default must be an integer in [1, 3], got 2.5."),
        (
            lambda d: Categorical(["a", "b"], default=d),
            "c",
            "default must be one of ['a', 'b'], got 'c'.",
        ),
    ],
)
def test_default_must_be_a_valid_value(parameter: object, default: object, message: str) -> None:
    """A default outside the range is refused on the 'default' field."""
    with pytest.raises(SpaceError) as info:
        parameter(default)  # type: ignore[operator]
    assert str(info.value) == message
    assert info.value.field == "default"


def test_categorical_values_must_not_be_empty() -> None:
    """An empty list of values is refused on the 'values' field."""
    with pytest.raises(SpaceError, match=r"^Categorical: 'values' must not be empty\.$") as info:
        Categorical([])
    assert info.value.field == "values"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["a", "b", "a"], "Categorical: duplicate value 'a' in ['a', 'b', 'a']."),
        ([1, 1.0], "Categorical: duplicate value 1.0 in [1, 1.0]."),
        ([True, False, True], "Categorical: duplicate value True in [True, False, True]."),
    ],
)
def test_categorical_values_must_be_distinct(values: list[object], message: str) -> None:
    """A repeated value (1 and 1.0 count as the same) is refused, naming it."""
    with pytest.raises(SpaceError) as info:
        Categorical(values)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert info.value.field == "values"


def test_booleans_strings_and_numbers_are_different_values() -> None:
    """1, True and '1' are three distinct categorical values."""
    parameter = Categorical([1, True, "1"])
    assert parameter.check(True) is True
    assert parameter.check("1") == "1"
    assert type(parameter.check(1.0)) is int


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("abc", "Categorical: 'values' must be a list, got 'abc'."),
        ({"a", "b"}, "Categorical: 'values' must be a list, got "),
        (
            [None],
            "Categorical: each value must be a string, a finite number or a boolean, got None.",
        ),
        (
            [1.0, math.nan],
            "Categorical: each value must be a string, a finite number or a boolean, got nan.",
        ),
        (
            [[1, 2]],
            "Categorical: each value must be a string, a finite number or a boolean, got [1, 2].",
        ),
    ],
)
def test_categorical_values_must_be_a_list_of_scalars(values: object, message: str) -> None:
    """Values must be a list of strings, finite numbers or booleans."""
    with pytest.raises(SpaceError) as info:
        Categorical(values)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("when", ["optimizer == 'sgd'", 3, ["optimizer"]])
def test_bad_when_is_refused(when: object) -> None:
    """'when' must be a mapping or a Condition."""
    with pytest.raises(SpaceError, match=r"^'when' must be a mapping such as \{'optimizer'"):
        Float(0.0, 1.0, when=when)  # type: ignore[arg-type]


def test_empty_when_is_refused() -> None:
    """An empty 'when' mapping names no condition and is refused."""
    with pytest.raises(SpaceError, match=r"^when must be a non-empty mapping"):
        Int(1, 2, when={})


def test_when_mapping_becomes_a_condition() -> None:
    """A 'when' mapping is read into a Condition."""
    assert Float(0.0, 1.0, when={"optimizer": "sgd"}).when == Equals("optimizer", "sgd")


# -- defaults -------------------------------------------------------------------------------


def test_float_default_is_the_middle_of_its_scale() -> None:
    """Without a default a float takes the middle of its range (the geometric one for log)."""
    assert Float(-2.0, 4.0).default == 1.0
    assert Float(1e-4, 1.0, log=True).default == pytest.approx(1e-2)


def test_int_and_categorical_defaults() -> None:
    """An int defaults to its middle (log: geometric) value, a categorical to its first value."""
    assert Int(0, 10).default == 5
    assert 50 <= Int(1, 10_000, log=True).default <= 150
    assert Categorical(["relu", "tanh"]).default == "relu"


def test_explicit_defaults_are_kept_in_canonical_form() -> None:
    """A given default is used, in the parameter's canonical type."""
    assert Float(0.0, 1.0, default=1).default == 1.0
    assert type(Float(0.0, 1.0, default=1).default) is float
    assert Int(1, 5, default=2.0).default == 2  # type: ignore[arg-type]
    assert type(Int(1, 5, default=2.0).default) is int  # type: ignore[arg-type]
    assert Categorical([1, 2], default=2.0).default == 2
    assert Categorical([True, False], default=False).default is False


# -- check ----------------------------------------------------------------------------------


def test_float_check() -> None:
    """A float accepts numbers in range as floats and names the value otherwise."""
    parameter = Float(0.0, 1.0)
    assert parameter.check(1) == 1.0 and type(parameter.check(1)) is float
    with pytest.raises(SpaceError, match=r"^lr must lie in \[0.0, 1.0\], got 1.5\.$"):
        parameter.check(1.5, "lr")
    for bad in (True, "0.5", math.nan, None):
        with pytest.raises(SpaceError, match="must be a finite number in"):
            parameter.check(bad)


def test_int_check() -> None:
    """An int accepts integral numbers in range (3.0 too) as ints and refuses fractions."""
    parameter = Int(1, 5)
    assert parameter.check(3.0) == 3 and type(parameter.check(3.0)) is int
    with pytest.raises(SpaceError, match=r"^n must be an integer in \[1, 5\], got 2.5\.$"):
        parameter.check(2.5, "n")
    with pytest.raises(SpaceError, match=r"^value must lie in \[1, 5\], got 6\.$"):
        parameter.check(6)
    with pytest.raises(SpaceError, match="must be an integer"):
        parameter.check(True)


def test_numpy_numbers_are_accepted_as_python_values() -> None:
    """numpy integers and floats (from pandas or numpy designs) check into Python values."""
    assert type(Int(1, 5).check(np.int64(3))) is int
    assert type(Float(0.0, 1.0).check(np.float32(0.5))) is float
    assert Categorical([1, 2]).check(np.int64(2)) == 2
    assert type(Categorical([1, 2]).check(np.int64(2))) is int


def test_categorical_check() -> None:
    """A categorical returns its own stored value and lists the values otherwise."""
    parameter = Categorical(["sgd", "adam"])
    assert parameter.check("adam") == "adam"
    with pytest.raises(SpaceError, match=r"^opt must be one of \['sgd', 'adam'\], got 'rms'\.$"):
        parameter.check("rms", "opt")
    with pytest.raises(SpaceError):
        Categorical([1, 0]).check(True)


# -- unit mapping and grids -----------------------------------------------------------------


def test_from_unit_maps_the_ends_to_the_bounds() -> None:
    """u=0 maps to low and u=1 to high, on every kind of scale."""
    assert (Float(2.0, 3.0).from_unit(0.0), Float(2.0, 3.0).from_unit(1.0)) == (2.0, 3.0)
    log = Float(1e-3, 10.0, log=True)
    assert log.from_unit(0.0) == pytest.approx(1e-3) and log.from_unit(1.0) == pytest.approx(10.0)
    assert (Int(3, 9).from_unit(0.0), Int(3, 9).from_unit(1.0)) == (3, 9)
    assert (Int(2, 64, log=True).from_unit(0.0), Int(2, 64, log=True).from_unit(1.0)) == (2, 64)
    assert Categorical(["a", "b", "c"]).from_unit(1.0) == "c"


def test_from_unit_clips_outside_the_unit_interval() -> None:
    """u below 0 or above 1 (even infinite) is clipped to the range's ends."""
    assert Float(0.0, 1.0).from_unit(-3.0) == 0.0
    assert Int(1, 4).from_unit(math.inf) == 4
    assert Categorical(["a", "b"]).from_unit(-math.inf) == "a"


@pytest.mark.parametrize("parameter", [Float(0.0, 1.0), Int(1, 3), Categorical(["a", "b"])])
def test_from_unit_refuses_nan(parameter: Parameter) -> None:
    """NaN maps to no value of the range, so from_unit raises SpaceError."""
    with pytest.raises(SpaceError, match="must be a number, got nan"):
        parameter.from_unit(math.nan)


def test_int_cells_are_equally_wide() -> None:
    """Each integer owns an equal share of the unit interval, the ends included."""
    parameter = Int(1, 4)
    values = [parameter.from_unit((i + 0.5) / 400) for i in range(400)]
    assert [values.count(v) for v in (1, 2, 3, 4)] == [100, 100, 100, 100]


def test_categorical_cells_are_equally_wide() -> None:
    """Each category owns an equal share of the unit interval; to_unit is its centre."""
    parameter = Categorical(["a", "b", "c", "d"])
    assert [parameter.from_unit(u) for u in (0.1, 0.3, 0.6, 0.9)] == ["a", "b", "c", "d"]
    assert parameter.to_unit("c") == 0.625


def test_log_float_midpoint_is_the_geometric_mean() -> None:
    """A log float maps u=0.5 to the geometric mean of its bounds."""
    assert Float(1e-5, 1e-1, log=True).from_unit(0.5) == pytest.approx(1e-3)


def test_grids() -> None:
    """grid gives spread floats, all or spread ints, and every categorical value."""
    assert Float(0.0, 1.0).grid(3) == [0.0, 0.5, 1.0]
    assert Float(0.0, 1.0, default=0.2).grid(1) == [0.2]
    assert Int(1, 3).grid(10) == [1, 2, 3]
    assert Int(0, 100).grid(5) == [0, 25, 50, 75, 100]
    assert Int(1, 1000, log=True).grid(4) == [1, 10, 100, 1000]
    assert Categorical(["x", "y"]).grid(1) == ["x", "y"]


@pytest.mark.parametrize("parameter", [Float(0.0, 1.0), Int(1, 10)])
def test_grid_needs_at_least_one_point(parameter: Parameter) -> None:
    """grid(0) is refused, naming grid_points."""
    with pytest.raises(SpaceError, match=r"^grid_points must be an int >= 1, got 0\.$"):
        parameter.grid(0)


def test_to_dict_has_the_job_file_shape() -> None:
    """to_dict gives a job file's parameters entry, with the default and the condition."""
    assert Float(0.0, 1.0, log=False).to_dict() == {
        "type": "float",
        "low": 0.0,
        "high": 1.0,
        "log": False,
        "default": 0.5,
    }
    assert Int(1, 3, when={"a": "x"}).to_dict() == {
        "type": "int",
        "low": 1,
        "high": 3,
        "log": False,
        "default": 2,
        "when": "a == 'x'",
    }
    assert Categorical(["s", "m", "l"], ordered=True).to_dict() == {
        "type": "ordinal",
        "values": ["s", "m", "l"],
        "default": "s",
    }


def test_parameters_are_frozen_values() -> None:
    """Parameters compare by value and cannot be changed after creation."""
    assert Float(0.0, 1.0) == Float(0.0, 1.0)
    assert Categorical(["a"]) != Categorical(["a"], ordered=True)
    with pytest.raises(AttributeError):
        Float(0.0, 1.0).low = 0.5  # type: ignore[misc]


# -- properties -----------------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def floats(draw: st.DrawFn) -> Float:
    log = draw(st.booleans())
    low = draw(st.floats(min_value=1e-6, max_value=1e6)) if log else draw(finite)
    width = draw(st.floats(min_value=1e-3, max_value=1e6))
    return Float(low, low + width, log=log)


@st.composite
def ints(draw: st.DrawFn) -> Int:
    log = draw(st.booleans())
    low = draw(st.integers(min_value=1 if log else -(10**6), max_value=10**6))
    return Int(low, low + draw(st.integers(min_value=1, max_value=10**6)), log=log)


scalars = st.one_of(
    st.text(max_size=5),
    st.integers(-100, 100),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
categoricals = st.lists(
    scalars,
    min_size=1,
    max_size=8,
    unique_by=lambda v: (
        "bool" if isinstance(v, bool) else "str" if isinstance(v, str) else "number",
        v,
    ),
).map(Categorical)
parameters = st.one_of(floats(), ints(), categoricals)
any_u = st.floats(allow_nan=False)


@given(parameters, any_u)
def test_from_unit_stays_in_the_range_for_any_u(parameter: Parameter, u: float) -> None:
    """Whatever u is (negative, huge, infinite), from_unit gives a value check accepts as is."""
    value = parameter.from_unit(u)
    assert parameter.check(value) == value


@given(parameters, st.floats(min_value=0.0, max_value=1.0))
def test_to_unit_lands_in_the_unit_interval(parameter: Parameter, u: float) -> None:
    """to_unit of any value of the range lies in [0, 1]."""
    assert 0.0 <= parameter.to_unit(parameter.from_unit(u)) <= 1.0


@given(categoricals, st.data())
def test_categorical_round_trips_exactly(parameter: Categorical, data: st.DataObject) -> None:
    """from_unit(to_unit(v)) gives back every categorical value exactly."""
    value = data.draw(st.sampled_from(parameter.values))
    back = parameter.from_unit(parameter.to_unit(value))
    assert back == value and type(back) is type(value)


@given(ints(), st.data())
def test_int_round_trips_exactly(parameter: Int, data: st.DataObject) -> None:
    """from_unit(to_unit(v)) gives back every integer of the range exactly."""
    value = data.draw(st.integers(parameter.low, parameter.high))
    assert parameter.from_unit(parameter.to_unit(value)) == value


@given(floats(), st.floats(min_value=0.0, max_value=1.0))
def test_float_round_trips_approximately(parameter: Float, u: float) -> None:
    """from_unit(to_unit(v)) gives back a float value up to rounding."""
    value = parameter.from_unit(u)
    assert parameter.from_unit(parameter.to_unit(value)) == pytest.approx(value, rel=1e-9, abs=1e-9)


@given(parameters, st.integers(min_value=1, max_value=12))
def test_grid_values_are_valid_and_at_most_n(parameter: Parameter, n: int) -> None:
    """Every grid value is valid, none repeats, and only categoricals exceed n values."""
    grid = parameter.grid(n)
    assert all(parameter.check(v) == v for v in grid)
    assert len({repr(v) for v in grid}) == len(grid) or isinstance(parameter, Float)
    if not isinstance(parameter, Categorical):
        assert 1 <= len(grid) <= n
