"""What ask returns: a configuration that cannot change, and the trial it continues."""

from __future__ import annotations

import pickle

import pytest

from tuneforge.strategies.base import Suggestion


def test_a_suggestion_reads_as_its_configuration() -> None:
    """Indexing, dict(), len, `in`, equality with a dict and the repr are the config's."""
    config = Suggestion({"lr": 0.1, "layers": 2})
    assert config["lr"] == 0.1 and dict(config) == {"lr": 0.1, "layers": 2}
    assert len(config) == 2 and "layers" in config and "x" not in config
    plain = {"lr": 0.1, "layers": 2}
    assert config == plain and plain == config and Suggestion(plain, continues=3) == config
    assert config != {"lr": 0.2, "layers": 2} and config.continues is None
    assert repr(config) == "{'lr': 0.1, 'layers': 2}"


def test_a_suggestion_cannot_change_and_keeps_what_it_continues() -> None:
    """It copies what it is made from, has no setters, and pickles with ``continues``."""
    source = {"epochs": 3}
    config = Suggestion(source, continues=7)
    source["epochs"] = 9
    assert config["epochs"] == 3
    with pytest.raises(TypeError):
        config["epochs"] = 5  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.continues = 1  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config and copy.continues == 7
    assert repr(config) == "Suggestion({'epochs': 3}, continues=7)"
