"""The stopping-rule registry: names, aliases, 'off', and directions read as Direction."""

from __future__ import annotations

import pytest

from tuneforge.errors import ConfigError
from tuneforge.stopping import RULES, available_rules, make_stopping_rule
from tuneforge.stopping.median import MedianRule
from tuneforge.trial import Direction


def test_names_include_the_alias_and_off() -> None:
    """Users may write off, auto (the median rule), median or asha."""
    assert available_rules() == ["asha", "auto", "median", "off"]
    assert RULES.get("auto") is MedianRule
    assert make_stopping_rule("off", "minimize") is None


def test_unknown_rule_lists_the_valid_names() -> None:
    """An unknown rule is refused with every name a user may write."""
    with pytest.raises(ConfigError) as info:
        make_stopping_rule("hunch", "minimize")
    assert str(info.value) == (
        "early_stopping: unknown rule 'hunch'; expected one of asha, auto, median, off."
    )


def test_direction_is_read_as_a_direction() -> None:
    """A rule holds a Direction; a wrong one is refused in the shared wording."""
    rule = make_stopping_rule("asha", "maximize")
    assert rule is not None and rule.direction is Direction.MAXIMIZE
    wording = r"^direction: expected 'minimize' or 'maximize', got 'up'\.$"
    with pytest.raises(ConfigError, match=wording):
        make_stopping_rule("median", "up")
