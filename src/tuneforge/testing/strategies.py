"""The contract every strategy must keep, as a pytest base class to subclass.

A strategy passes the contract by supplying one fixture, ``make_strategy``, a factory
that builds it for a space and a seed::

    from tuneforge.testing.strategies import StrategyContract

    class TestMySearch(StrategyContract):
        @pytest.fixture
        def make_strategy(self):
            return lambda space, seed: MySearch(space, seed=seed, temperature=0.5)

Each test runs on every space of :data:`CONTRACT_SPACES` (continuous, log-scaled, integer,
categorical, conditional, with forbidden clauses, mixed). Deterministic strategies set
``deterministic = True`` to skip the test that different seeds give different sequences.
Override the ``space`` fixture to run the contract on other spaces.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import pytest

from tuneforge.space import (
    AllOf,
    Categorical,
    Equals,
    Float,
    GreaterThan,
    InSet,
    Int,
    Scalar,
    SearchSpace,
)
from tuneforge.strategies.base import Strategy, Suggestion, strategy_class
from tuneforge.trial import Trial, TrialOrigin, TrialState

StrategyFactory = Callable[[SearchSpace, int | None], Strategy]


def _continuous() -> SearchSpace:
    return SearchSpace({"x": Float(-5.0, 5.0), "y": Float(0.0, 1.0)})


def _log() -> SearchSpace:
    return SearchSpace({"lr": Float(1e-5, 1e-1, log=True), "units": Int(8, 512, log=True)})


def _integer() -> SearchSpace:
    return SearchSpace({"n": Int(1, 10), "offset": Int(-3, 3)})


def _categorical() -> SearchSpace:
    return SearchSpace(
        {
            "optimizer": Categorical(["sgd", "adam", "rmsprop"]),
            "shuffle": Categorical([True, False]),
            "mixed": Categorical([1, 2.5, "three"]),
        }
    )


def _conditional() -> SearchSpace:
    return SearchSpace(
        {
            "optimizer": Categorical(["sgd", "adam"]),
            "momentum": Float(0.0, 0.99, when={"optimizer": "sgd"}),
            "nesterov": Categorical([True, False], when={"optimizer": "sgd"}),
            "beta1": Float(0.8, 0.999, when={"optimizer": "adam"}),
            "layers": Int(1, 3),
            "width2": Int(8, 64, log=True, when=GreaterThan("layers", 1)),
        }
    )


def _forbidden() -> SearchSpace:
    return SearchSpace(
        {
            "kernel": Categorical(["linear", "rbf", "poly"]),
            "degree": Int(1, 4),
            "c": Float(0.01, 100.0, log=True),
        },
        forbidden=[
            AllOf((Equals("kernel", "linear"), GreaterThan("degree", 1))),
            InSet("degree", (4,)),
        ],
    )


def _mixed() -> SearchSpace:
    return SearchSpace(
        {
            "lr": Float(1e-4, 1.0, log=True),
            "batch": Int(16, 128),
            "model": Categorical(["mlp", "cnn"]),
            "kernel": Int(3, 7, when={"model": "cnn"}),
            "dropout": Float(0.0, 0.5),
        },
        static={"epochs": 3},
        forbidden=[AllOf((Equals("model", "mlp"), GreaterThan("batch", 120)))],
    )


#: The spaces the contract runs on, by name; functions so every test gets a fresh space.
CONTRACT_SPACES: dict[str, Callable[[], SearchSpace]] = {
    "continuous": _continuous,
    "log": _log,
    "integer": _integer,
    "categorical": _categorical,
    "conditional": _conditional,
    "forbidden": _forbidden,
    "mixed": _mixed,
}

_FINISHED = (TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED)


def ask_many(strategy: Strategy, n: int) -> list[Suggestion | None]:
    """``n`` answers of ``ask`` in a row (``None`` included)."""
    return [strategy.ask() for _ in range(n)]


def make_trial(
    number: int,
    params: Mapping[str, Scalar],
    state: TrialState,
    origin: str = TrialOrigin.STRATEGY,
) -> Trial:
    """A trial as storage would record it in ``state``, with the fields that state has."""
    if state is TrialState.COMPLETED:
        return Trial(
            number,
            params,
            state,
            value=float(number % 3),
            metrics={"loss": 0.5},
            started_at=0.0,
            finished_at=1.0,
            origin=origin,
        )
    if state is TrialState.FAILED:
        return Trial(
            number,
            params,
            state,
            reason="exit status 1",
            log_tail="Traceback ...",
            started_at=0.0,
            finished_at=1.0,
            origin=origin,
        )
    if state is TrialState.STOPPED:
        return Trial(
            number,
            params,
            state,
            reason="stopped by a person",
            metrics={"loss": 0.9},
            started_at=0.0,
            finished_at=0.5,
            origin=origin,
        )
    return Trial(
        number, params, state, started_at=0.0 if state.is_active() else None, origin=origin
    )


class StrategyContract:
    """Tests every strategy must pass; subclass it and define the ``make_strategy`` fixture.

    Class attributes tune the suite:
        deterministic: the strategy ignores its seed (grid in order, design), so the
            different-seeds test is skipped.
        n_asks: how many configurations each test asks for.
        max_exhaust: finite strategies with more configurations than this skip the
            exhaustion test, which asks for all of them.
    """

    deterministic: ClassVar[bool] = False
    n_asks: ClassVar[int] = 30
    max_exhaust: ClassVar[int] = 5_000

    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        raise NotImplementedError(
            "subclass StrategyContract and define a make_strategy fixture that returns "
            "a function (space, seed) -> Strategy."
        )

    @pytest.fixture(params=sorted(CONTRACT_SPACES))
    def space(self, request: pytest.FixtureRequest) -> SearchSpace:
        return CONTRACT_SPACES[request.param]()

    # -- what ask returns ------------------------------------------------------------------
    def test_every_configuration_is_valid(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """Every configuration holds active parameters only, in the canonical form check
        returns, as a Suggestion that names no trial or an earlier one as continued."""
        strategy = make_strategy(space, 0)
        for config in ask_many(strategy, self.n_asks):
            if config is None:
                continue
            assert isinstance(config, Suggestion)
            assert config.continues is None or config.continues >= 0
            checked = space.check(config)
            assert checked == config
            assert {k: type(v) for k, v in checked.items()} == {
                k: type(v) for k, v in config.items()
            }

    def test_same_seed_gives_the_same_sequence(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """Two strategies built with the same seed propose the same configurations."""
        first = ask_many(make_strategy(space, 42), self.n_asks)
        second = ask_many(make_strategy(space, 42), self.n_asks)
        assert first == second

    def test_different_seeds_give_different_sequences(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """A stochastic strategy's sequence depends on its seed."""
        if self.deterministic:
            pytest.skip("deterministic strategy: the seed does not change its sequence")
        first = ask_many(make_strategy(space, 1), self.n_asks)
        second = ask_many(make_strategy(space, 2), self.n_asks)
        assert first != second

    def test_global_random_state_is_not_used(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """Reseeding Python's and numpy's global generators does not change the sequence."""
        random.seed(1)
        np.random.seed(1)
        first = ask_many(make_strategy(space, 5), self.n_asks)
        random.seed(2)
        np.random.seed(2)
        second = ask_many(make_strategy(space, 5), self.n_asks)
        assert first == second

    def test_seed_none_works(self, make_strategy: StrategyFactory, space: SearchSpace) -> None:
        """Without a seed the strategy still proposes valid configurations."""
        for config in ask_many(make_strategy(space, None), 5):
            if config is not None:
                space.check(config)

    def test_changing_a_returned_configuration_changes_nothing_else(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """The caller owns what ask returns: it cannot be edited, and editing a dict made
        from it does not alter later configurations."""
        expected = ask_many(make_strategy(space, 3), self.n_asks)
        strategy = make_strategy(space, 3)
        seen = []
        for _ in range(self.n_asks):
            config = strategy.ask()
            seen.append(None if config is None else dict(config))
            if config is not None:
                assert not hasattr(config, "__setitem__") and not hasattr(config, "clear")
                edited = dict(config)
                edited.clear()
                edited["not-a-parameter"] = 1
        assert seen == expected

    # -- tell and restore ------------------------------------------------------------------
    def test_tell_accepts_every_finished_state(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """Telling completed, failed and stopped trials (and user-enqueued ones) breaks nothing."""
        strategy = make_strategy(space, 11)
        rng = np.random.default_rng(0)
        for number in range(self.n_asks):
            config = strategy.ask()
            if config is None:
                break
            strategy.tell(make_trial(number, config, _FINISHED[number % 3]))
            if number % 5 == 0:
                strategy.tell(
                    make_trial(
                        1000 + number, space.sample(rng), TrialState.COMPLETED, origin="user"
                    )
                )
        for config in ask_many(strategy, 5):
            if config is not None:
                space.check(config)

    def test_restore_continues_the_same_sequence(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """A fresh strategy restored from the trials proposes what the original would have next."""
        original = make_strategy(space, 7)
        trials: list[Trial] = []
        states = (*_FINISHED, TrialState.RUNNING)
        for number in range(8):
            config = original.ask()
            if config is None:
                break
            trials.append(make_trial(number, config, states[number % len(states)]))
        user_config = space.sample(np.random.default_rng(3))
        trials.append(make_trial(len(trials), user_config, TrialState.COMPLETED, origin="user"))
        for trial in trials:
            if trial.state.is_finished():
                original.tell(trial)
        expected = ask_many(original, self.n_asks)

        resumed = make_strategy(space, 7)
        resumed.restore(trials)
        assert ask_many(resumed, self.n_asks) == expected

    # -- size and exhaustion ---------------------------------------------------------------
    def test_n_configurations_is_none_or_a_fixed_count(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """n_configurations is None (unbounded) or an int >= 0 that asking does not change."""
        strategy = make_strategy(space, 0)
        total = strategy.n_configurations
        assert total is None or (isinstance(total, int) and total >= 0)
        ask_many(strategy, 3)
        assert strategy.n_configurations == total

    def test_exhausted_strategy_keeps_returning_none(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """A finite strategy proposes exactly n_configurations, then None on every ask."""
        strategy = make_strategy(space, 0)
        total = strategy.n_configurations
        if total is None:
            assert None not in ask_many(strategy, self.n_asks)
            return
        if total > self.max_exhaust:
            pytest.skip(f"{total} configurations: more than max_exhaust={self.max_exhaust}")
        assert None not in ask_many(strategy, total)
        assert ask_many(strategy, 3) == [None, None, None]

    # -- how it is built -------------------------------------------------------------------
    def test_is_registered_under_its_name(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """The class is in the registry (``@register(name)``), so job files can name it."""
        cls = type(make_strategy(space, 0))
        assert cls.name
        assert strategy_class(cls.name) is cls

    def test_options_are_keyword_only(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """The constructor takes the space, then keyword-only seed and options (no **kwargs)."""
        cls = type(make_strategy(space, 0))
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        assert parameters[0].name == "space"
        rest = parameters[1:]
        assert "seed" in [p.name for p in rest]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)
