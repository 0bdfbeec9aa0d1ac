"""Hyperband and BOHB: bracket arithmetic, asynchronous promotions, restore, the model's data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuneforge.errors import ConfigError
from tuneforge.space import Categorical, Float, SearchSpace
from tuneforge.strategies import Config, Strategy, make_strategy
from tuneforge.strategies import base as strategies_base
from tuneforge.strategies.hyperband import BOHB, Hyperband, hyperband_brackets
from tuneforge.testing.strategies import (
    StrategyContract,
    StrategyFactory,
    ask_many,
    make_trial,
)
from tuneforge.trial import Trial, TrialState

RESOURCE = "budget"


def check_without_resource(space: SearchSpace, config: Config | None) -> None:
    """``config`` is a valid configuration of ``space`` plus a rung's resource."""
    assert config is not None
    rest = {k: v for k, v in config.items() if k != RESOURCE}
    assert config[RESOURCE] in {1, 3, 9, 27}
    assert space.check(rest) == rest


class _ResourceContract(StrategyContract):
    """The contract, with the resource set aside where it checks configurations.

    The resource is a key of every configuration but not a parameter of the space, so
    the three contract tests that call ``space.check`` are restated without it.
    """

    def test_every_configuration_is_valid(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """Every configuration is valid once its resource (a rung's) is set aside."""
        for config in ask_many(make_strategy(space, 0), self.n_asks):
            check_without_resource(space, config)

    def test_seed_none_works(self, make_strategy: StrategyFactory, space: SearchSpace) -> None:
        """Without a seed the strategy still proposes valid configurations."""
        for config in ask_many(make_strategy(space, None), 5):
            check_without_resource(space, config)

    def test_tell_accepts_every_finished_state(
        self, make_strategy: StrategyFactory, space: SearchSpace
    ) -> None:
        """Completed, failed and stopped trials, and trials without a resource, break nothing."""
        strategy = make_strategy(space, 11)
        states = (TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED)
        for number in range(self.n_asks):
            config = strategy.ask()
            assert config is not None
            strategy.tell(make_trial(number, config, states[number % 3]))
            if number % 5 == 0:
                user = make_trial(
                    1000 + number, space.sample(np.random.default_rng(number)), TrialState.COMPLETED
                )
                strategy.tell(user)
        for config in ask_many(strategy, 5):
            check_without_resource(space, config)


class TestHyperbandContract(_ResourceContract):
    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: Hyperband(
            space, seed=seed, resource=RESOURCE, max_resource=27, eta=3
        )


class TestBOHBContract(_ResourceContract):
    @pytest.fixture
    def make_strategy(self) -> StrategyFactory:
        return lambda space, seed: BOHB(
            space, seed=seed, resource=RESOURCE, max_resource=27, eta=3, model="random"
        )


# -- bracket arithmetic --------------------------------------------------------------------


def table(min_resource: int, max_resource: int, eta: int) -> list[list[tuple[int, int]]]:
    return [
        [(r.n_configurations, r.resource) for r in b.rungs]
        for b in hyperband_brackets(min_resource, max_resource, eta)
    ]


def test_brackets_match_the_hyperband_paper() -> None:
    """R=81, eta=3 gives the table of Li et al. (2018), most aggressive bracket first."""
    assert table(1, 81, 3) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    assert [b.budget for b in hyperband_brackets(1, 81, 3)] == [405, 363, 351, 378, 405]


def test_resources_off_a_power_of_eta_are_rounded() -> None:
    """A range that is not a power of eta keeps max_resource and rounds the rungs below it."""
    assert [r.resource for r in hyperband_brackets(1, 100, 3)[0].rungs] == [1, 4, 11, 33, 100]
    assert [r.resource for r in hyperband_brackets(2, 20, 2)[0].rungs] == [2, 5, 10, 20]


@given(
    min_resource=st.integers(1, 20),
    factor=st.integers(1, 400),
    eta=st.integers(2, 6),
)
def test_bracket_sizes_follow_the_formula(min_resource: int, factor: int, eta: int) -> None:
    """n = ceil((s_max+1)/(s+1) * eta**s), n_i = floor(n / eta**i), rungs end at max_resource."""
    max_resource = min_resource * factor
    brackets = hyperband_brackets(min_resource, max_resource, eta)
    s_max = len(brackets) - 1
    assert min_resource * eta**s_max <= max_resource < min_resource * eta ** (s_max + 1)
    for bracket, s in zip(brackets, range(s_max, -1, -1), strict=True):
        assert bracket.s == s and len(bracket.rungs) == s + 1
        n = bracket.rungs[0].n_configurations
        assert n * (s + 1) >= (s_max + 1) * eta**s > (n - 1) * (s + 1)
        assert [r.n_configurations for r in bracket.rungs] == [n // eta**i for i in range(s + 1)]
        resources = [r.resource for r in bracket.rungs]
        assert resources[-1] == max_resource and resources[0] >= min_resource
        assert all(a < b for a, b in zip(resources, resources[1:], strict=False))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resource": "x"}, r"'x' is a tuned parameter.*static"),
        ({"resource": "epochs"}, r"needs the full resource; give max_resource"),
        ({"resource": "epochs", "max_resource": 27, "eta": 1}, r"'eta' option.*\[2, inf\)"),
        ({"resource": "epochs", "max_resource": 2}, r"at least min_resource \* eta = 3"),
        ({"resource": "epochs", "max_resource": 27, "min_resource": 0}, r"'min_resource'"),
    ],
)
def test_bad_options_are_clear_errors(options: dict[str, object], message: str) -> None:
    """A tuned resource, a missing full resource or a bad eta say what to fix."""
    with pytest.raises(ConfigError, match=message):
        make_strategy("hyperband", SearchSpace({"x": Float(0.0, 1.0)}), options=options)


def test_max_resource_defaults_to_the_static_value() -> None:
    """`static: {epochs: 27}` makes 27 the full resource; every configuration sets epochs."""
    space = SearchSpace({"x": Float(0.0, 1.0)}, static={"epochs": 27})
    search = make_strategy("hyperband", space, seed=0, options={"resource": "epochs"})
    resources = {c["epochs"] for c in ask_many(search, 60) if c is not None}
    assert resources == {1, 3, 9, 27}


# -- scheduling ----------------------------------------------------------------------------

SPACE = SearchSpace({"x": Float(0.0, 1.0)})


def finished(number: int, config: Config, value: float | None, t: float) -> Trial:
    state = TrialState.COMPLETED if value is not None else TrialState.FAILED
    return Trial(number, config, state, value=value, started_at=t, finished_at=t + 0.5)


def loss_of(config: Config) -> float:
    """A learning curve: the loss falls with the resource, the ranking is that of x."""
    return float(config["x"]) + 1.0 / int(config[RESOURCE])


def run_sequentially(
    strategy: Strategy, n: int, loss: Callable[[Config], float | None] = loss_of
) -> Iterator[Trial]:
    """max_parallel = 1: ask, run, tell, one trial at a time."""
    for number in range(n):
        config = strategy.ask()
        assert config is not None
        trial = finished(number, config, loss(config), float(number))
        strategy.tell(trial)
        yield trial


def test_a_sequential_run_fills_every_bracket_as_the_table_says() -> None:
    """One trial at a time, one Hyperband iteration runs exactly the table's trials per resource."""
    search = Hyperband(SPACE, seed=0, resource=RESOURCE, max_resource=27, eta=3)
    brackets = hyperband_brackets(1, 27, 3)
    n_total = sum(r.n_configurations for b in brackets for r in b.rungs)
    trials = list(run_sequentially(search, n_total))
    expected: Counter[int] = Counter()
    for bracket in brackets:
        for rung in bracket.rungs:
            expected[rung.resource] += rung.n_configurations
    assert Counter(int(t.params[RESOURCE]) for t in trials) == expected
    assert sum(int(t.params[RESOURCE]) for t in trials) == sum(b.budget for b in brackets)
    # The run on the full resource of the first bracket is the best of its 27 configurations.
    first = trials[: sum(r.n_configurations for r in brackets[0].rungs)]
    best_start = min(float(t.params["x"]) for t in first if t.params[RESOURCE] == 1)
    assert [float(t.params["x"]) for t in first if t.params[RESOURCE] == 27] == [best_start]


def scripted(xs: list[float], **options: object) -> Hyperband:
    """Hyperband whose new configurations are ``x`` = each of ``xs`` in turn."""
    values = iter(xs)

    class Scripted(Hyperband):
        def _new_configuration(self, bracket: object) -> Config:
            return {"x": next(values)}

    return Scripted(SPACE, seed=0, resource=RESOURCE, max_resource=9, eta=3, **options)  # type: ignore[arg-type]


def test_promotion_is_asynchronous() -> None:
    """A run is promoted as soon as it is in the top 1/eta of its rung's results so far."""
    search = scripted([0.5, 0.2, 0.9, 0.1, 0.8, 0.7, 0.05, 0.6])
    asked = [(t.params["x"], t.params[RESOURCE]) for t in run_sequentially(search, 12)]
    assert asked == [
        (0.5, 1),
        (0.2, 1),
        (0.9, 1),
        (0.2, 3),  # 3 results at rung 1: the best one goes on at once
        (0.1, 1),
        (0.1, 3),  # 4 results: 0.1 is now the top 1
        (0.8, 1),
        (0.7, 1),  # 6 results: the top 2 (0.1, 0.2) already went on
        (0.05, 1),
        (0.05, 3),  # 7 results: top 2 is 0.05, 0.1; rung 3 is now full (3 of 3)
        (0.05, 9),  # 3 results at rung 3: the best goes to the full resource
        (0.6, 1),  # nothing to promote: the first bracket goes on filling its base
    ]


def test_parallel_asks_never_wait_for_a_bracket() -> None:
    """Without results, a full bracket opens the next one: no ask returns None."""
    search = Hyperband(SPACE, seed=0, resource=RESOURCE, max_resource=9, eta=3)
    resources = [c[RESOURCE] for c in ask_many(search, 19) if c is not None]
    assert resources == [1] * 9 + [3] * 5 + [9] * 3 + [1] * 2


def test_failed_runs_are_never_promoted() -> None:
    """A failed run counts among its rung's results but is not promoted; the best finite one is."""
    search = scripted([0.5, 0.9, 0.3])
    trials = run_sequentially(search, 4, loss=lambda c: None if c["x"] != 0.9 else 5.0)
    assert [(t.params["x"], t.params[RESOURCE]) for t in trials][3] == (0.9, 3)


def test_maximize_promotes_the_highest_values() -> None:
    """With direction maximize the largest objective values go on."""
    search = Hyperband(
        SPACE, seed=0, resource=RESOURCE, max_resource=9, eta=3, direction="maximize"
    )
    trials = list(run_sequentially(search, 4, loss=lambda c: float(c["x"])))
    assert trials[3].params["x"] == max(t.params["x"] for t in trials[:3])


def test_restore_replays_an_interleaved_run() -> None:
    """A strategy restored from a sequential run's trials proposes what the original would."""
    original = Hyperband(SPACE, seed=3, resource=RESOURCE, max_resource=27, eta=3)
    trials = list(run_sequentially(original, 40))
    expected = ask_many(original, 10)
    resumed = Hyperband(SPACE, seed=3, resource=RESOURCE, max_resource=27, eta=3)
    resumed.restore(trials)
    assert ask_many(resumed, 10) == expected


def test_restore_adopts_trials_it_would_not_have_proposed() -> None:
    """Stored trials from other options still find their place: a promotion goes on its rung."""
    original = Hyperband(SPACE, seed=1, resource=RESOURCE, max_resource=9, eta=3)
    trials = list(run_sequentially(original, 4))
    resumed = Hyperband(SPACE, seed=99, resource=RESOURCE, max_resource=9, eta=3)
    resumed.restore(trials)
    # The stored run at resource 3 was adopted as the promotion, so none is pending: the
    # next asks fill the first bracket's base (they would promote again otherwise).
    assert [c[RESOURCE] for c in ask_many(resumed, 6) if c is not None] == [1] * 6


# -- BOHB ------------------------------------------------------------------------------------


class Recording(Strategy):
    """A model that proposes x = 0.123 and remembers what it was told."""

    instances: list[Recording] = []

    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self.told: list[Trial] = []
        Recording.instances.append(self)

    def ask(self) -> Config | None:
        return {"x": 0.123}

    def tell(self, trial: Trial) -> None:
        self.told.append(trial)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> type[Recording]:
    monkeypatch.setitem(strategies_base._REGISTRY, "recording", Recording)
    monkeypatch.setattr(Recording, "instances", [])
    return Recording


def test_bohb_models_the_largest_resource_with_enough_results(recording: type[Recording]) -> None:
    """Once a resource has min_points results, new configurations come from the model of it."""
    search = BOHB(
        SPACE,
        seed=0,
        resource=RESOURCE,
        max_resource=9,
        eta=3,
        model="recording",
        min_points=3,
        random_fraction=0.0,
        direction="maximize",
    )
    trials = list(run_sequentially(search, 3, loss=lambda c: float(c["x"])))
    assert all(t.params["x"] != 0.123 for t in trials)  # random until 3 results at resource 1
    nxt = search.ask()  # a promotion comes first
    assert nxt is not None and nxt[RESOURCE] == 3
    assert search.ask() == {"x": 0.123, RESOURCE: 1}
    # It learned the three results at resource 1, without the resource, as losses.
    [model] = recording.instances
    assert [t.params for t in model.told] == [{"x": t.params["x"]} for t in trials]
    assert [t.value for t in model.told] == [-float(t.params["x"]) for t in trials]


def test_bohb_switches_to_a_larger_resource_when_it_has_enough_data(
    recording: type[Recording],
) -> None:
    """When resource 3 reaches min_points, a fresh model learns from resource 3 only."""
    search = BOHB(
        SPACE,
        seed=0,
        resource=RESOURCE,
        max_resource=9,
        eta=3,
        model="recording",
        min_points=2,
        random_fraction=0.0,
    )
    list(run_sequentially(search, 20))
    levels = []
    for model in recording.instances:
        # loss_of is x + 1/resource: each model saw the results of a single resource.
        seen = {round(1 / (float(t.value or 0) - float(t.params["x"]))) for t in model.told}
        assert len(seen) == 1 and all(RESOURCE not in t.params for t in model.told)
        levels.extend(seen)
    assert levels[0] == 1 and levels == sorted(levels) and len(set(levels)) >= 2


def test_bohb_options_are_checked() -> None:
    """An unknown model, itself as its model, or a bad random_fraction are clear errors."""
    space = SearchSpace({"c": Categorical(["a", "b"])}, static={"epochs": 9})
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        BOHB(space, resource="epochs", model="nope")
    with pytest.raises(ConfigError, match="cannot model itself"):
        BOHB(space, resource="epochs", model="bohb")
    with pytest.raises(ConfigError, match=r"random_fraction: must be a number in \[0, 1\]"):
        BOHB(space, resource="epochs", model="random", random_fraction=2)
