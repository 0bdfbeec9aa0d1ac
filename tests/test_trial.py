"""The domain values every module shares: directions, trial origins, interrupt policies."""

from __future__ import annotations

import pytest

from tuneforge.trial import Direction, OnInterrupt, TrialOrigin


def test_a_direction_says_which_of_two_values_is_better() -> None:
    """Maximize prefers the larger value, minimize the smaller; a tie is never better."""
    assert Direction.MAXIMIZE.is_better(2.0, 1.0) and not Direction.MAXIMIZE.is_better(1.0, 2.0)
    assert Direction.MINIMIZE.is_better(1.0, 2.0) and not Direction.MINIMIZE.is_better(2.0, 1.0)
    assert not Direction.MINIMIZE.is_better(1.0, 1.0)
    assert Direction.MAXIMIZE.sign == -1.0 and Direction.MINIMIZE.sign == 1.0


def test_domain_values_compare_equal_to_the_words_stored_and_typed() -> None:
    """Enums are strings, so storage, JSON and job files keep their plain words."""
    assert Direction.MAXIMIZE == "maximize" and f"{Direction.MINIMIZE}" == "minimize"
    assert TrialOrigin("enqueued") is TrialOrigin.ENQUEUED
    assert [p.value for p in OnInterrupt] == ["rerun", "mark"]


def test_an_unknown_direction_names_the_field_the_value_and_the_choices() -> None:
    with pytest.raises(
        ValueError, match=r"objective.direction: expected 'minimize' or 'maximize', got 'up'\."
    ):
        Direction.parse("up", "objective.direction")
