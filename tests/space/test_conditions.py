"""Conditions and forbidden clauses: evaluation on active parameters, reading, describing."""

from __future__ import annotations

import pytest

from tuneforge.errors import SpaceError
from tuneforge.space import (
    AllOf,
    AnyOf,
    Equals,
    GreaterThan,
    InSet,
    LessThan,
    NotEquals,
)
from tuneforge.space.conditions import all_of, condition_from_mapping


def test_equals() -> None:
    """Equals holds when the parameter has the value."""
    assert Equals("opt", "sgd").evaluate({"opt": "sgd"})
    assert not Equals("opt", "sgd").evaluate({"opt": "adam"})


def test_comparisons_on_an_absent_parameter_are_false() -> None:
    """A parameter missing from the configuration (inactive) makes every comparison false."""
    for condition in (
        Equals("x", 1),
        NotEquals("x", 1),
        InSet("x", (1, 2)),
        LessThan("x", 5),
        GreaterThan("x", 0),
    ):
        assert not condition.evaluate({"y": 1})


def test_not_equals() -> None:
    """NotEquals holds for any other value of a present parameter."""
    assert NotEquals("opt", "sgd").evaluate({"opt": "adam"})
    assert not NotEquals("opt", "sgd").evaluate({"opt": "sgd"})


def test_in_set() -> None:
    """InSet holds when the value is one of the listed ones."""
    assert InSet("layers", (2, 3)).evaluate({"layers": 3})
    assert not InSet("layers", (2, 3)).evaluate({"layers": 1})


def test_numbers_compare_by_value_but_not_with_booleans_or_strings() -> None:
    """1 equals 1.0, but not True nor '1' (as in a categorical's values)."""
    assert Equals("x", 1).evaluate({"x": 1.0})
    assert not Equals("x", 1).evaluate({"x": True})
    assert not Equals("x", True).evaluate({"x": 1})
    assert not Equals("x", "1").evaluate({"x": 1})
    assert not InSet("x", (1, 2)).evaluate({"x": True})
    assert NotEquals("x", 1).evaluate({"x": True})


def test_less_and_greater_than() -> None:
    """LessThan and GreaterThan compare numbers strictly."""
    assert LessThan("lr", 0.1).evaluate({"lr": 0.01})
    assert not LessThan("lr", 0.1).evaluate({"lr": 0.1})
    assert GreaterThan("n", 1).evaluate({"n": 2})
    assert not GreaterThan("n", 1).evaluate({"n": 1})


def test_order_comparisons_ignore_strings_and_booleans() -> None:
    """LessThan and GreaterThan are false for strings and booleans rather than raising."""
    assert not LessThan("x", 5).evaluate({"x": "abc"})
    assert not GreaterThan("x", 0).evaluate({"x": True})


def test_all_of_and_any_of() -> None:
    """AllOf needs every clause, AnyOf one of them."""
    both = AllOf((Equals("a", 1), Equals("b", 2)))
    either = AnyOf((Equals("a", 1), Equals("b", 2)))
    assert both.evaluate({"a": 1, "b": 2}) and not both.evaluate({"a": 1, "b": 3})
    assert either.evaluate({"a": 0, "b": 2}) and not either.evaluate({"a": 0, "b": 0})


def test_names_lists_every_parameter_read() -> None:
    """names() gives every parameter an expression reads, through nesting."""
    condition = AllOf((Equals("a", 1), AnyOf((LessThan("b", 2), InSet("c", (1,))))))
    assert condition.names() == frozenset({"a", "b", "c"})


@pytest.mark.parametrize(
    ("condition", "text"),
    [
        (Equals("opt", "sgd"), "opt == 'sgd'"),
        (NotEquals("n", 2), "n != 2"),
        (InSet("layers", (2, 3)), "layers in {2, 3}"),
        (LessThan("lr", 0.1), "lr < 0.1"),
        (GreaterThan("n", 1), "n > 1"),
        (
            AllOf((Equals("a", 1), AnyOf((Equals("b", 2), Equals("c", 3))))),
            "a == 1 && (b == 2 || c == 3)",
        ),
        (
            AnyOf((Equals("a", 1), AllOf((Equals("b", 2), Equals("c", 3))))),
            "a == 1 || (b == 2 && c == 3)",
        ),
    ],
)
def test_describe(condition: object, text: str) -> None:
    """describe (and str) give a readable expression, with parentheses where needed."""
    assert condition.describe() == text  # type: ignore[attr-defined]
    assert str(condition) == text


def test_conditions_are_hashable_values() -> None:
    """Conditions compare by value and can be set members."""
    assert Equals("a", 1) == Equals("a", 1)
    assert len({InSet("a", (1, 2)), InSet("a", (1, 2))}) == 1


def test_all_of_needs_a_clause_and_does_not_wrap_one() -> None:
    """all_of of one condition is that condition; of none it is an error."""
    single = Equals("a", 1)
    assert all_of([single]) is single
    assert all_of([single, Equals("b", 2)]) == AllOf((single, Equals("b", 2)))
    with pytest.raises(SpaceError, match=r"^a condition needs at least one clause\.$"):
        all_of([])


def test_when_mapping_forms() -> None:
    """A value reads as Equals, a list as InSet, several keys as their AND."""
    assert condition_from_mapping({"opt": "sgd"}) == Equals("opt", "sgd")
    assert condition_from_mapping({"opt": ["sgd", "rms"]}) == InSet("opt", ("sgd", "rms"))
    assert condition_from_mapping({"opt": "sgd", "n": [2, 3]}) == AllOf(
        (Equals("opt", "sgd"), InSet("n", (2, 3)))
    )


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            {},
            "parameters.m.when must be a non-empty mapping of parameter name to value or list "
            "of values, got {}.",
        ),
        (
            "sgd",
            "parameters.m.when must be a non-empty mapping of parameter name to value or "
            "list of values, got 'sgd'.",
        ),
        ({"opt": []}, "parameters.m.when.opt must list at least one value."),
        ({1: "sgd"}, "parameters.m.when: parameter names must be strings, got 1."),
    ],
)
def test_bad_when_mappings_name_their_field(when: object, message: str) -> None:
    """A malformed 'when' raises SpaceError that starts with the field path given."""
    with pytest.raises(SpaceError) as info:
        condition_from_mapping(when, field="parameters.m.when")  # type: ignore[arg-type]
    assert str(info.value) == message
