"""Reading a cloud tuning job's ParameterRanges JSON into a SearchSpace."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuneforge.errors import ConfigError
from tuneforge.space import Categorical, Float, Int, SearchSpace, read_parameter_ranges

RANGES: dict[str, Any] = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
        {"Name": "dropout", "MinValue": "0", "MaxValue": "0.5", "ScalingType": "Linear"},
    ],
    "IntegerParameterRanges": [
        {"Name": "layers", "MinValue": "1", "MaxValue": "8", "ScalingType": "Auto"},
    ],
    "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}],
}


def read(data: Any) -> SearchSpace:
    return read_parameter_ranges(data, source="job.json")


def one(kind: str, **entry: Any) -> dict[str, Any]:
    return {kind: [entry]}


def test_ranges_map_to_float_int_and_categorical() -> None:
    """Continuous ranges become Floats, integer ranges Ints, categorical ranges Categoricals."""
    space = read(RANGES)
    assert space.names == ["lr", "dropout", "layers", "opt"]
    assert space["lr"] == Float(0.0001, 0.1, log=True)
    assert space["dropout"] == Float(0.0, 0.5)
    assert space["layers"] == Int(1, 8)
    assert space["opt"] == Categorical(["sgd", "adam"])


def test_numbers_may_be_json_numbers() -> None:
    """The API writes numbers as strings, but plain numbers are accepted too."""
    space = read(one("IntegerParameterRanges", Name="n", MinValue=2, MaxValue=64.0))
    assert space["n"] == Int(2, 64)


def test_scaling_type_is_optional_and_auto_is_linear() -> None:
    """Without ScalingType, or with Auto, the range is sampled uniformly."""
    space = read(one("ContinuousParameterRanges", Name="x", MinValue="1", MaxValue="2"))
    assert space["x"].log is False  # type: ignore[attr-defined]


def test_logarithmic_integer_range() -> None:
    """Logarithmic scaling works for integer ranges too."""
    space = read(
        one(
            "IntegerParameterRanges",
            Name="n",
            MinValue="1",
            MaxValue="1024",
            ScalingType="Logarithmic",
        )
    )
    assert space["n"] == Int(1, 1024, log=True)


def test_categorical_values_are_kept_as_given() -> None:
    """Categorical values the API gives as strings stay strings; numbers stay numbers."""
    space = read(
        {
            "CategoricalParameterRanges": [
                {"Name": "batch", "Values": ["16", "32"]},
                {"Name": "k", "Values": [1, 3]},
            ]
        }
    )
    assert space["batch"].values == ("16", "32")  # type: ignore[attr-defined]
    assert space["k"].values == (1, 3)  # type: ignore[attr-defined]


def test_json_text_is_accepted() -> None:
    """A JSON string is parsed first."""
    assert read(json.dumps(RANGES)).names == ["lr", "dropout", "layers", "opt"]


def test_whole_tuning_job_definition_with_static_values() -> None:
    """From a job definition the ranges come from HyperParameterTuningJobConfig and the
    static values from TrainingJobDefinition.StaticHyperParameters."""
    job = {
        "HyperParameterTuningJobName": "demo",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ParameterRanges": RANGES},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "10", "model": "resnet"},
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
        },
    }
    space = read(job)
    assert space.names == ["lr", "dropout", "layers", "opt"]
    assert space.static == {"epochs": "10", "model": "resnet"}


def test_parameter_ranges_at_top_level() -> None:
    """An object holding ParameterRanges at its top level is read too."""
    assert len(read({"ParameterRanges": RANGES})) == 4


# -- errors --------------------------------------------------------------------------------------
def test_reverse_logarithmic_is_not_supported_yet() -> None:
    """ReverseLogarithmic is refused with a message that says what to use instead."""
    with pytest.raises(
        ConfigError,
        match=r"job\.json: ContinuousParameterRanges\[0\]\.ScalingType: "
        r"ReverseLogarithmic is not supported yet; use Linear or Logarithmic",
    ):
        read(
            one(
                "ContinuousParameterRanges",
                Name="beta",
                MinValue="0.9",
                MaxValue="0.999",
                ScalingType="ReverseLogarithmic",
            )
        )


def test_unknown_scaling_type_lists_the_valid_ones() -> None:
    """An unknown ScalingType lists Auto, Linear, Logarithmic and ReverseLogarithmic."""
    with pytest.raises(
        ConfigError,
        match="ScalingType: expected one of Auto, Linear, Logarithmic, "
        "ReverseLogarithmic, got 'Log'",
    ):
        read(
            one(
                "ContinuousParameterRanges", Name="x", MinValue="1", MaxValue="2", ScalingType="Log"
            )
        )


def test_missing_name_is_named() -> None:
    """An entry without a Name points at the missing field."""
    with pytest.raises(ConfigError, match=r"IntegerParameterRanges\[0\]\.Name: missing"):
        read(one("IntegerParameterRanges", MinValue="1", MaxValue="2"))


def test_bad_number_names_the_field() -> None:
    """A MinValue that is not a number names its path and the value."""
    with pytest.raises(
        ConfigError,
        match=r"job\.json: ContinuousParameterRanges\[0\]\.MinValue: "
        r"expected a number .*got 'ten'",
    ):
        read(one("ContinuousParameterRanges", Name="x", MinValue="ten", MaxValue="20"))


def test_integer_range_needs_whole_numbers() -> None:
    """An integer range with a fractional bound is refused."""
    with pytest.raises(
        ConfigError,
        match=r"IntegerParameterRanges\[0\]\.MaxValue: expected an "
        r"integer, got '2\.5'",
    ):
        read(one("IntegerParameterRanges", Name="n", MinValue="1", MaxValue="2.5"))


def test_booleans_are_not_numbers() -> None:
    """JSON true is not accepted as a bound."""
    with pytest.raises(ConfigError, match=r"MinValue: expected a number"):
        read(one("ContinuousParameterRanges", Name="x", MinValue=True, MaxValue="2"))


def test_non_finite_numbers_are_refused() -> None:
    """Infinite bounds are refused."""
    with pytest.raises(ConfigError, match=r"MaxValue: expected a finite number, got '1e999'"):
        read(one("ContinuousParameterRanges", Name="x", MinValue="0", MaxValue="1e999"))


def test_min_not_below_max_is_an_error() -> None:
    """MinValue >= MaxValue is reported with both values."""
    with pytest.raises(
        ConfigError,
        match=r"ContinuousParameterRanges\[0\]: MinValue must be less "
        r"than MaxValue, got MinValue='0.5', MaxValue='0.1'",
    ):
        read(one("ContinuousParameterRanges", Name="x", MinValue="0.5", MaxValue="0.1"))


def test_logarithmic_needs_positive_min() -> None:
    """Logarithmic scaling with MinValue <= 0 is refused."""
    with pytest.raises(ConfigError, match=r"MinValue: Logarithmic scaling needs MinValue > 0"):
        read(
            one(
                "ContinuousParameterRanges",
                Name="x",
                MinValue="0",
                MaxValue="1",
                ScalingType="Logarithmic",
            )
        )


def test_unknown_entry_key_lists_the_valid_keys() -> None:
    """A misspelt key in an entry lists the keys that entry may have."""
    with pytest.raises(
        ConfigError,
        match=r"ContinuousParameterRanges\[0\]: unknown key\(s\) "
        r"\['MinVal'\]; valid keys: Name, MinValue, MaxValue, ScalingType",
    ):
        read(one("ContinuousParameterRanges", Name="x", MinVal="0", MaxValue="1"))


def test_unknown_range_kind_lists_the_valid_ones() -> None:
    """An unknown key next to the range lists lists the three valid kinds."""
    with pytest.raises(
        ConfigError,
        match=r"unknown key\(s\) \['AutoParameters'\]; valid keys: "
        "ContinuousParameterRanges, IntegerParameterRanges, "
        "CategoricalParameterRanges",
    ):
        read({**RANGES, "AutoParameters": [{"Name": "x", "ValueHint": "0.1"}]})


def test_duplicate_names_across_kinds() -> None:
    """The same Name in two ranges is an error that names both places."""
    data = {
        "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}],
        "CategoricalParameterRanges": [{"Name": "x", "Values": ["a"]}],
    }
    with pytest.raises(
        ConfigError,
        match=r"CategoricalParameterRanges\[0\]\.Name: duplicate name "
        r"'x' \(also ContinuousParameterRanges\[0\]\)",
    ):
        read(data)


def test_categorical_values_must_be_a_non_empty_list() -> None:
    """Values must list at least one value."""
    with pytest.raises(
        ConfigError,
        match=r"CategoricalParameterRanges\[0\]\.Values: expected a "
        "non-empty list",
    ):
        read({"CategoricalParameterRanges": [{"Name": "opt", "Values": []}]})


def test_duplicate_categorical_values_name_the_field() -> None:
    """Repeated values are reported at the Values field."""
    with pytest.raises(
        ConfigError,
        match=r"CategoricalParameterRanges\[0\]\.Values: duplicate "
        "value 'a'",
    ):
        read({"CategoricalParameterRanges": [{"Name": "opt", "Values": ["a", "a"]}]})


def test_all_entry_problems_are_reported_together() -> None:
    """Problems in several entries are collected into one ConfigError."""
    data = {
        "ContinuousParameterRanges": [{"Name": "x", "MinValue": "a", "MaxValue": "1"}],
        "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "b"}],
    }
    with pytest.raises(ConfigError) as caught:
        read(data)
    assert len(caught.value.problems) == 2


def test_static_value_clashing_with_a_range() -> None:
    """A static value with the name of a tuned parameter is refused."""
    job = {
        "HyperParameterTuningJobConfig": {"ParameterRanges": RANGES},
        "TrainingJobDefinition": {"StaticHyperParameters": {"lr": "0.1"}},
    }
    with pytest.raises(ConfigError, match=r"\['lr'\] are both parameters and static values"):
        read(job)


def test_invalid_json_names_line_and_column() -> None:
    """Malformed JSON text reports where it broke."""
    with pytest.raises(ConfigError, match=r"job\.json line 2 column 1: not valid JSON"):
        read('{"ContinuousParameterRanges": [\n')


def test_json_must_hold_an_object() -> None:
    """A JSON list is not a ParameterRanges object."""
    with pytest.raises(ConfigError, match="expected a JSON object holding ParameterRanges"):
        read("[1, 2]")


def test_no_ranges_is_an_error() -> None:
    """An object with no ranges at all is refused."""
    with pytest.raises(ConfigError, match="defines no ranges"):
        read({"ContinuousParameterRanges": []})


def test_tuning_job_config_without_ranges() -> None:
    """A tuning job config that lacks ParameterRanges says so."""
    with pytest.raises(
        ConfigError, match="HyperParameterTuningJobConfig: expected an object with ParameterRanges"
    ):
        read({"HyperParameterTuningJobConfig": {"Strategy": "Random"}})


# -- any input -----------------------------------------------------------------------------------
def _space_or_config_error(data: Any) -> None:
    try:
        space = read_parameter_ranges(data)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert isinstance(space, SearchSpace)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
numbers = (
    st.integers(-(10**400), 10**400)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["0", "1", "-1", "0.5", "1e-3", "1e999", "nan", " 2 ", "3.0"])
    | st.booleans()
    | st.none()
)
numeric_entry = st.fixed_dictionaries(
    {},
    optional={
        "Name": st.text(max_size=4) | st.none() | st.integers(),
        "MinValue": numbers,
        "MaxValue": numbers,
        "ScalingType": st.sampled_from(
            ["Auto", "Linear", "Logarithmic", "ReverseLogarithmic", "log"]
        )
        | json_values,
    },
)
categorical_entry = st.fixed_dictionaries(
    {}, optional={"Name": st.text(max_size=4) | json_values, "Values": json_values}
)
ranges = st.fixed_dictionaries(
    {},
    optional={
        "ContinuousParameterRanges": st.lists(numeric_entry, max_size=3) | json_values,
        "IntegerParameterRanges": st.lists(numeric_entry, max_size=3),
        "CategoricalParameterRanges": st.lists(categorical_entry, max_size=3),
    },
)
jobs = st.one_of(
    ranges,
    st.builds(lambda r: {"ParameterRanges": r}, ranges),
    st.builds(
        lambda r, s: {
            "HyperParameterTuningJobConfig": {"ParameterRanges": r},
            "TrainingJobDefinition": {"StaticHyperParameters": s},
        },
        ranges,
        json_values,
    ),
)


@given(json_values)
def test_any_json_value_gives_a_space_or_a_config_error(data: Any) -> None:
    """Arbitrary JSON-like values never raise anything but ConfigError."""
    _space_or_config_error(data)


@given(jobs)
def test_range_shaped_dicts_give_a_space_or_a_config_error(data: Any) -> None:
    """Dicts shaped like ranges, with random contents, never raise anything but ConfigError."""
    _space_or_config_error(data)


@given(st.text() | jobs.map(lambda d: json.dumps(d, allow_nan=True)))
def test_any_text_gives_a_space_or_a_config_error(text: str) -> None:
    """Arbitrary text and JSON documents never raise anything but ConfigError."""
    _space_or_config_error(text)
