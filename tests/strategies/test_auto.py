"""``auto``: the contract, which model it picks and why, and that it says so."""

from __future__ import annotations

import logging

import pytest

from tuneforge.jobfile import job_from_document
from tuneforge.space import Categorical, Float, Int, SearchSpace
from tuneforge.strategies import auto, make_strategy
from tuneforge.strategies.auto import AutoSearch
from tuneforge.testing.strategies import CONTRACT_SPACES, StrategyContract, StrategyFactory
from tuneforge.trial import Trial, TrialState


class TestAutoContract(StrategyContract):
    """The contract on two spaces: on the others auto runs the GP, which test_bayesian covers."""

    n_asks = 12

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: AutoSearch(space, seed=seed)

    @pytest.fixture(params=["mixed", "conditional"])
    def space(self, request: pytest.FixtureRequest) -> SearchSpace:
        return CONTRACT_SPACES[request.param]()


def test_small_space_uses_a_gaussian_process() -> None:
    """A few mixed parameters and a short history: the GP, with the reason given."""
    space = SearchSpace({"x": Float(0.0, 1.0), "n": Int(1, 5), "c": Categorical(["a", "b"])})
    search = AutoSearch(space, seed=0)
    assert search.choice == "bayesian"
    assert "3 parameters (1 categorical)" in search.reason


def test_many_dimensions_use_the_forest() -> None:
    """More than MAX_GP_DIM parameters: the forest."""
    space = SearchSpace({f"x{i}": Float(0.0, 1.0) for i in range(auto.MAX_GP_DIM + 1)})
    search = AutoSearch(space, seed=0)
    assert search.choice == "forest"
    assert f"{auto.MAX_GP_DIM + 1} parameters" in search.reason


def test_large_categorical_spaces_use_the_forest() -> None:
    """A large space of mostly categoricals: the forest; a small one: the GP."""
    values = ["a", "b", "c"]
    large = {f"c{i}": Categorical(values) for i in range(auto.MAX_GP_CATEGORICAL_DIM)}
    large["x"] = Float(0.0, 1.0)
    assert AutoSearch(SearchSpace(large), seed=0).choice == "forest"
    small = SearchSpace({"a": Categorical(values), "b": Categorical(values)})
    assert AutoSearch(small, seed=0).choice == "bayesian"


def test_empty_space_uses_random() -> None:
    """A space without parameters has nothing to model: random, which proposes {}."""
    search = AutoSearch(SearchSpace({}), seed=0)
    assert search.choice == "random"
    assert search.ask() == {}


def test_long_history_switches_to_the_forest_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Past MAX_GP_TRIALS told trials auto switches to the forest and logs why."""
    monkeypatch.setattr(auto, "MAX_GP_TRIALS", 12)
    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    with caplog.at_level(logging.INFO, logger="tuneforge.strategies.auto"):
        search = AutoSearch(space, seed=0)
        for number in range(14):
            config = search.ask()
            assert config is not None
            search.tell(Trial(number, config, TrialState.COMPLETED, value=config["x"]))
        search.ask()
    assert search.choice == "forest"
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("auto: bayesian (")
    assert any("switching from bayesian to forest" in m for m in messages)


def test_auto_is_the_default_strategy() -> None:
    """A job file without strategy: gets auto, built with the job's direction."""
    document = {
        "name": "demo",
        "command": "python train.py --x ${x}",
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "objective": {"metric": "acc", "direction": "maximize"},
    }
    spec = job_from_document(document, ".")
    assert spec.strategy == "auto"
    strategy = spec.make_strategy()
    assert isinstance(strategy, AutoSearch) and strategy.direction == "maximize"


def test_direction_is_not_an_option() -> None:
    """direction comes from the job, not from strategy_options, and is checked."""
    space = SearchSpace({"x": Float(0.0, 1.0)})
    assert make_strategy("auto", space, direction="maximize").direction == "maximize"
    with pytest.raises(Exception, match="direction"):
        make_strategy("auto", space, direction="sideways")


def test_local_steps_are_an_option_of_its_gaussian_process() -> None:
    """local_every reaches the GP (0 turns local steps off) and is checked by name."""
    space = SearchSpace({"x": Float(0.0, 1.0)})
    assert AutoSearch(space, local_every=0)._gp.local_every == 0
    assert AutoSearch(space)._gp.local_every == 3
    with pytest.raises(Exception, match="local_every"):
        make_strategy("auto", space, options={"local_every": "often"})
