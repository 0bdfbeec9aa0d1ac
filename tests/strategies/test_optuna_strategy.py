"""``optuna:<Sampler>``: any Optuna sampler behind the ask/tell contract."""

from __future__ import annotations

import pytest

from tuneforge.errors import ConfigError
from tuneforge.space import Categorical, Float, Int, SearchSpace
from tuneforge.strategies import make_strategy, strategy_options
from tuneforge.strategies.base import is_strategy, strategy_class
from tuneforge.strategies.optuna_sampler import OptunaSearch
from tuneforge.testing.strategies import StrategyContract, StrategyFactory
from tuneforge.trial import Trial, TrialState

pytest.importorskip("optuna")


class TestOptunaTPEContract(StrategyContract):
    n_asks = 15

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: make_strategy(
            "optuna:TPESampler",
            space,
            seed=seed,
            options={"sampler_options": {"n_startup_trials": 4}},
        )


class TestOptunaRandomContract(StrategyContract):
    n_asks = 10

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: make_strategy("optuna:RandomSampler", space, seed=seed)


SPACE = SearchSpace({"x": Float(-5.0, 5.0), "n": Int(1, 10), "c": Categorical(["a", "b"])})


def test_family_names_resolve_to_the_adapter() -> None:
    """optuna:<Sampler> and plain optuna name the adapter; the suffix picks the sampler."""
    assert strategy_class("optuna:GPSampler") is OptunaSearch
    assert is_strategy("optuna:QMCSampler") and is_strategy("optuna")
    assert not is_strategy("nosuch:TPESampler")
    assert "sampler" not in strategy_options("optuna:TPESampler")
    search = make_strategy("optuna:RandomSampler", SPACE, seed=0)
    assert isinstance(search, OptunaSearch) and search.sampler_name == "RandomSampler"
    assert make_strategy("optuna", SPACE, seed=0).sampler_name == "TPESampler"  # type: ignore[attr-defined]


def test_sampler_options_reach_the_sampler() -> None:
    """sampler_options are the sampler's constructor arguments; bad ones are named."""
    search = make_strategy(
        "optuna:TPESampler", SPACE, seed=0, options={"sampler_options": {"n_startup_trials": 3}}
    )
    assert search.sampler._n_startup_trials == 3  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="sampler_options"):
        make_strategy("optuna:TPESampler", SPACE, options={"sampler_options": {"nope": 1}})


def test_unknown_sampler_lists_the_valid_ones() -> None:
    """A sampler name Optuna lacks gives an error that lists the samplers it has."""
    with pytest.raises(ConfigError, match="no sampler 'FooSampler'.*TPESampler"):
        make_strategy("optuna:FooSampler", SPACE)


def test_tells_reach_the_study_and_direction_is_kept() -> None:
    """Completed and failed tells land in the Optuna study; an enqueued trial is added."""
    search = make_strategy("optuna:TPESampler", SPACE, seed=1, direction="maximize")
    assert isinstance(search, OptunaSearch)
    first, second = search.ask(), search.ask()
    assert first is not None and second is not None
    search.tell(Trial(0, first, TrialState.COMPLETED, value=2.0))
    search.tell(Trial(1, second, TrialState.FAILED))
    search.tell(
        Trial(2, {"x": 0.0, "n": 5, "c": "b"}, TrialState.COMPLETED, value=9.0, origin="user")
    )
    states = [t.state.name for t in search.study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"]
    assert search.study.best_value == 9.0
    assert search.study.direction.name == "MAXIMIZE"


def test_conditional_parameters_are_suggested_only_when_active() -> None:
    """Inactive parameters are not suggested, so Optuna's trial holds exactly the configuration."""
    space = SearchSpace({"kind": Categorical(["a", "b"]), "x": Float(0.0, 1.0, when={"kind": "a"})})
    search = make_strategy("optuna:TPESampler", space, seed=0)
    assert isinstance(search, OptunaSearch)
    for _ in range(10):
        config = search.ask()
        assert config is not None
        assert set(search.study.trials[-1].params) == set(config)
