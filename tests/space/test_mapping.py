"""space_from_mapping: the job file's parameters, with every problem named by its field path."""

from __future__ import annotations

from typing import Any

import pytest

from tuneforge.errors import ConfigError
from tuneforge.space import (
    Categorical,
    Equals,
    Float,
    InSet,
    Int,
    space_from_mapping,
)


def problems(parameters: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        space_from_mapping(parameters, **kwargs)
    return info.value.problems


def test_reads_every_parameter_type() -> None:
    """float, int, categorical and ordinal entries (and a bare list) become parameters."""
    space = space_from_mapping(
        {
            "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
            "batch": {"type": "int", "low": 8, "high": 64, "default": 32},
            "optimizer": {"type": "categorical", "values": ["sgd", "adam"]},
            "size": {"type": "ordinal", "values": ["s", "m", "l"], "default": "m"},
            "act": ["relu", "tanh"],
        }
    )
    assert space["lr"] == Float(1e-5, 0.1, log=True)
    assert space["batch"] == Int(8, 64, default=32)
    assert space["optimizer"] == Categorical(["sgd", "adam"])
    assert space["size"] == Categorical(["s", "m", "l"], ordered=True, default="m")
    assert space["act"] == Categorical(["relu", "tanh"])
    assert space.names == ["lr", "batch", "optimizer", "size", "act"]


def test_reads_conditions_static_values_and_forbidden_clauses() -> None:
    """when, static and forbidden are read into conditions, static values and clauses."""
    space = space_from_mapping(
        {
            "optimizer": ["sgd", "adam"],
            "momentum": {"type": "float", "low": 0, "high": 0.99, "when": {"optimizer": "sgd"}},
            "layers": {"type": "int", "low": 1, "high": 3},
        },
        static={"epochs": 5},
        forbidden=[{"optimizer": "adam", "layers": [3]}],
    )
    assert space["momentum"].when == Equals("optimizer", "sgd")
    assert space.static == {"epochs": 5}
    assert space.is_forbidden({"optimizer": "adam", "layers": 3})
    assert not space.is_forbidden({"optimizer": "sgd", "layers": 3})
    assert space.forbidden[0].describe() == "optimizer == 'adam' && layers in {3}"
    assert isinstance(space.forbidden[0].conditions[1], InSet)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"type": "float", "low": 1.0, "high": 0.5},
            "parameters.lr.low: 'low < high' must hold, but got low=1.0, high=0.5.",
        ),
        (
            {"type": "float", "low": 0.0, "high": 1.0, "log": True},
            "parameters.lr.low: a log scale needs low > 0, but got low=0.0.",
        ),
        (
            {"type": "float", "low": 0.0, "high": "big"},
            "parameters.lr.high: 'high' must be a finite number, got 'big'.",
        ),
        (
            {"type": "int", "low": 1.5, "high": 3},
            "parameters.lr.low: 'low' must be an integer, got 1.5.",
        ),
        (
            {"type": "float", "low": 0.0, "high": 1.0, "default": 2.0},
            "parameters.lr.default: default must lie in [0.0, 1.0], got 2.0.",
        ),
        (
            {"type": "categorical", "values": []},
            "parameters.lr.values: 'values' must not be empty.",
        ),
        (
            {"type": "categorical", "values": ["a", "b", "a"]},
            "parameters.lr.values: duplicate value 'a' in ['a', 'b', 'a'].",
        ),
        (
            {"type": "categorical", "values": ["a"], "default": "z"},
            "parameters.lr.default: default must be one of ['a'], got 'z'.",
        ),
        (
            {"type": "float", "low": 0.0, "high": 1.0, "log": "yes"},
            "parameters.lr.log: expected true or false, got 'yes'.",
        ),
    ],
)
def test_invalid_values_are_reported_with_their_field_path(
    entry: dict[str, Any], message: str
) -> None:
    """A bad bound, default or value list names parameters.<name>.<key> and what is valid."""
    assert problems({"lr": entry}) == [message]


def test_unknown_type_lists_the_valid_ones() -> None:
    """An unknown or missing type names the valid types."""
    assert problems({"lr": {"type": "double", "low": 0, "high": 1}, "n": {"low": 1}}) == [
        "parameters.lr.type: expected one of float, int, categorical, ordinal, got 'double'.",
        "parameters.n.type: expected one of float, int, categorical, ordinal, got None.",
    ]


def test_missing_and_unknown_keys() -> None:
    """Missing low/high or values, and keys a type does not take, are named."""
    assert problems({"lr": {"type": "float"}}) == [
        "parameters.lr.low: missing; a float parameter needs 'low'.",
        "parameters.lr.high: missing; a float parameter needs 'high'.",
    ]
    assert problems({"c": {"type": "categorical"}}) == [
        "parameters.c.values: missing; a categorical parameter needs 'values'."
    ]
    assert problems({"lr": {"type": "float", "low": 0, "high": 1, "step": 0.1}}) == [
        "parameters.lr: unknown key(s) ['step'] for a float parameter; valid keys: "
        "['default', 'high', 'log', 'low', 'type', 'when']."
    ]


def test_entry_must_be_a_mapping_or_a_list() -> None:
    """A parameter entry that is neither a mapping nor a list is refused with an example."""
    assert problems({"lr": 0.1}) == [
        "parameters.lr: expected a mapping such as {type: float, low: 0.0, high: 1.0} or a list "
        "of values, got 0.1."
    ]


def test_parameters_must_be_a_mapping() -> None:
    """parameters itself must map names to entries."""
    assert problems(["lr"]) == ["parameters: expected a mapping of name to parameter, got ['lr']."]


def test_every_problem_is_reported_at_once() -> None:
    """Problems in several parameters are all collected into one ConfigError."""
    found = problems(
        {
            "a": {"type": "float", "low": 1, "high": 0},
            "b": {"type": "int", "low": 0, "high": 10},
            "c": {"type": "categorical", "values": []},
        },
        forbidden=[{}],
    )
    assert found == [
        "parameters.a.low: 'low < high' must hold, but got low=1, high=0.",
        "parameters.c.values: 'values' must not be empty.",
        "forbidden[0] must be a non-empty mapping of parameter name to value or list of values, "
        "got {}.",
    ]


def test_bad_when_names_its_field() -> None:
    """A malformed when is reported under parameters.<name>.when."""
    assert problems({"m": {"type": "float", "low": 0, "high": 1, "when": []}}) == [
        "parameters.m.when must be a non-empty mapping of parameter name to value or list of "
        "values, got []."
    ]
    assert problems({"o": ["a"], "m": {"type": "int", "low": 0, "high": 1, "when": {"o": []}}}) == [
        "parameters.m.when.o must list at least one value."
    ]


def test_when_on_an_unknown_parameter() -> None:
    """A when naming no parameter is reported under its field, listing the known names."""
    assert problems({"m": {"type": "float", "low": 0, "high": 1, "when": {"opt": "sgd"}}}) == [
        "parameters.m.when: names unknown parameter(s) ['opt']; known: ['m']."
    ]


def test_forbidden_clause_on_an_unknown_parameter() -> None:
    """A forbidden clause naming no parameter is reported under forbidden[<i>]."""
    assert problems({"a": ["x", "y"]}, forbidden=[{"a": "x"}, {"b": 1}]) == [
        "forbidden[1]: names unknown parameter(s) ['b']; known: ['a']."
    ]


def test_condition_cycle() -> None:
    """Conditions forming a loop are refused, showing it."""
    assert problems(
        {
            "a": {"type": "int", "low": 0, "high": 1, "when": {"b": 1}},
            "b": {"type": "int", "low": 0, "high": 1, "when": {"a": 1}},
        }
    ) == ["parameters: conditions form a cycle: a -> b -> a."]


def test_static_clash() -> None:
    """A name that is both a parameter and a static value is refused."""
    assert problems({"epochs": ["1", "2"]}, static={"epochs": 3}) == [
        "parameters: ['epochs'] are both parameters and static values; keep one of each."
    ]


def test_custom_path_prefixes_every_field() -> None:
    """The path argument replaces 'parameters' in field paths."""
    assert problems({"lr": {"type": "float", "low": 1, "high": 0}}, path="job.parameters") == [
        "job.parameters.lr.low: 'low < high' must hold, but got low=1, high=0."
    ]
