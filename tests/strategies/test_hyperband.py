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
    """One trial at a time, one iteration runs exactly its brackets' trials per resource."""
    search = Hyperband(SPACE, seed=0, resource=RESOURCE, max_resource=27, eta=3)
    brackets = search.brackets
    n_total = sum(r.n_configurations for b in brackets for r in b.rungs)
    trials = list(run_sequentially(search, n_total))
    expected: Counter[int] = Counter()
    for bracket in brackets:
        for rung in bracket.rungs:
            expected[rung.resource] += rung.n_configurations
    assert Counter(int(t.params[RESOURCE]) for t in trials) == expected
    assert sum(int(t.params[RESOURCE]) for t in trials) == sum(b.budget for b in brackets)
    # The runs on the full resource of the first bracket are the best 2 of its 27 starts.
    first = trials[: sum(r.n_configurations for r in brackets[0].rungs)]
    best_starts = sorted(float(t.params["x"]) for t in first if t.params[RESOURCE] == 1)[:2]
    assert [float(t.params["x"]) for t in first if t.params[RESOURCE] == 27] == best_starts


def test_hyperband_hedges_the_last_rung_of_its_brackets() -> None:
    """Brackets that end on one configuration end on two; the others are the paper's."""
    search = Hyperband(SPACE, seed=0, resource=RESOURCE, max_resource=81, eta=3)
    assert [[(r.n_configurations, r.resource) for r in b.rungs] for b in search.brackets] == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (2, 81)],
        [(34, 3), (11, 9), (3, 27), (2, 81)],
        [(15, 9), (5, 27), (2, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    assert [b.budget for b in search.brackets] == [486, 444, 432, 378, 405]


def scripted(xs: list[float], **options: object) -> Hyperband:
    """Hyperband whose new configurations are ``x`` = each of ``xs`` in turn."""
    values = iter(xs)

    class Scripted(Hyperband):
        def _new_configuration(self, number: int) -> Config:
            return {"x": next(values)}

    return Scripted(SPACE, seed=0, resource=RESOURCE, max_resource=9, eta=3, **options)  # type: ignore[arg-type]


def test_a_rung_promotes_its_best_once_all_its_results_are_in() -> None:
    """Promotions wait for the whole rung, so the ranking is that of all of its results."""
    search = scripted([0.5, 0.2, 0.9, 0.1, 0.8, 0.7, 0.05, 0.6, 0.3, 0.4])
    asked = [(t.params["x"], t.params[RESOURCE]) for t in run_sequentially(search, 15)]
    assert asked == [
        (0.5, 1),
        (0.2, 1),
        (0.9, 1),
        (0.1, 1),
        (0.8, 1),
        (0.7, 1),
        (0.05, 1),
        (0.6, 1),
        (0.3, 1),  # the rung's 9 results are in: its best 3 go on, best first
        (0.05, 3),
        (0.1, 3),
        (0.2, 3),  # the 3 results at resource 3 are in: the best 2 go to the full resource
        (0.05, 9),
        (0.1, 9),
        (0.4, 9),  # the bracket is done: the next one, on the full resource, starts
    ]


def test_a_waiting_bracket_lends_its_free_slots_to_the_next_one() -> None:
    """While a rung's last run is out, the next bracket starts; the promotion comes first after."""
    search = scripted([0.5, 0.2, 0.9, 0.1, 0.8, 0.7, 0.05, 0.6, 0.3, 0.4, 0.45])
    asked = ask_many(search, 10)  # all 9 of the first bracket's base, then one more
    assert [c[RESOURCE] for c in asked if c is not None] == [1] * 9 + [9]
    for number, config in enumerate(asked[:9]):
        assert config is not None
        search.tell(finished(number, config, loss_of(config), float(number)))
    # The base is done: its best three are promoted, ahead of the second bracket's work.
    assert [(c["x"], c[RESOURCE]) for c in ask_many(search, 3) if c is not None] == [
        (0.05, 3),
        (0.1, 3),
        (0.2, 3),
    ]


def test_parallel_asks_never_wait_for_a_bracket() -> None:
    """Without results, a full bracket opens the next one (in Hyperband's order, but the
    full-resource bracket second): no ask returns None."""
    search = Hyperband(SPACE, seed=0, resource=RESOURCE, max_resource=9, eta=3)
    resources = [c[RESOURCE] for c in ask_many(search, 19) if c is not None]
    assert resources == [1] * 9 + [9] * 3 + [3] * 5 + [1] * 2


def test_failed_runs_are_never_promoted() -> None:
    """Failed runs count among their rung's results but never go on; fewer runs then do."""
    search = scripted([0.5, 0.9, 0.3, 0.1, 0.2, 0.6, 0.7, 0.8, 0.4])
    finite = {0.9, 0.6}
    trials = run_sequentially(search, 12, loss=lambda c: c["x"] if c["x"] in finite else None)
    assert [(t.params["x"], t.params[RESOURCE]) for t in trials][9:] == [
        (0.6, 3),
        (0.9, 3),  # only two of the nine finished: both go on, though the table keeps 3
        (0.6, 9),
    ]


def test_maximize_promotes_the_highest_values() -> None:
    """With direction maximize the largest objective values go on."""
    search = Hyperband(
        SPACE, seed=0, resource=RESOURCE, max_resource=9, eta=3, direction="maximize"
    )
    trials = list(run_sequentially(search, 10, loss=lambda c: float(c["x"])))
    assert trials[9].params["x"] == max(t.params["x"] for t in trials[:9])


def test_a_promotion_continues_the_trial_that_ran_it_on_the_rung_below() -> None:
    """Every promoted run names the trial of the same configuration one rung lower; a new
    configuration names none."""
    search = Hyperband(SPACE, seed=1, resource=RESOURCE, max_resource=27, eta=3)
    rungs = [r.resource for r in search.brackets[0].rungs]
    trials: list[Trial] = []
    n_promotions = 0
    for number in range(60):
        config = search.ask()
        assert config is not None
        parent = config.continues
        n_promotions += parent is not None
        if parent is None:
            earlier = [t for t in trials if t.params["x"] == config["x"]]
            assert earlier == []  # a fresh draw: nothing to continue
        else:
            below = trials[parent]
            assert below.params["x"] == config["x"]
            assert rungs.index(below.params[RESOURCE]) == rungs.index(config[RESOURCE]) - 1
        trial = finished(number, config, loss_of(config), float(number))
        search.tell(trial)
        trials.append(trial)
    # 27 x 1 -> 9 x 3 -> 3 x 9 -> 2 x 27 (41 runs), 4 x 27 fresh (45), 12 x 3 fresh (57),
    # then the first 3 of 4 x 9: promotions are 9 + 3 + 2 + 3.
    assert n_promotions == 17


def test_checkpoints_run_the_cheap_aggressive_brackets_first() -> None:
    """With checkpoints a promotion costs only the extra resource: the second most
    aggressive bracket runs first, then the most aggressive, then down to the full one."""
    search = Hyperband(SPACE, seed=0, resource=RESOURCE, max_resource=27, eta=3, checkpoints=True)
    firsts = [search._bracket(number).s for number in range(5)]
    assert firsts == [2, 3, 1, 0, 2]
    with pytest.raises(ConfigError, match=r"checkpoints: must be true or false, got 'yes'"):
        Hyperband(SPACE, resource=RESOURCE, max_resource=27, checkpoints="yes")  # type: ignore[arg-type]


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
    trials = list(run_sequentially(original, 10))  # the base of 9, then the first promotion
    resumed = Hyperband(SPACE, seed=99, resource=RESOURCE, max_resource=9, eta=3)
    resumed.restore(trials)
    # The stored run at resource 3 was adopted as the best one's promotion, so the next
    # asks are the two other promotions, not a second run of the best.
    base = sorted(float(t.params["x"]) for t in trials[:9])
    assert trials[9].params == {"x": base[0], RESOURCE: 3}
    assert ask_many(resumed, 2) == [{"x": base[1], RESOURCE: 3}, {"x": base[2], RESOURCE: 3}]


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
    monkeypatch.setitem(strategies_base.STRATEGIES.classes, "recording", Recording)
    monkeypatch.setattr(Recording, "instances", [])
    return Recording


def recording_bohb(**options: object) -> BOHB:
    settings: dict[str, object] = {
        "seed": 0,
        "resource": RESOURCE,
        "max_resource": 9,
        "eta": 3,
        "model": "recording",
        "random_fraction": 0.0,
    }
    settings.update(options)
    return BOHB(SPACE, **settings)  # type: ignore[arg-type]


def test_bohb_draws_what_hyperband_draws_until_its_model_has_data(
    recording: type[Recording],
) -> None:
    """The first bracket (results on the smallest resource only) is Hyperband's, draw for draw."""
    plain = list(run_sequentially(Hyperband(SPACE, seed=5, resource=RESOURCE, max_resource=9), 14))
    modelled = list(run_sequentially(recording_bohb(seed=5, min_points=3), 14))
    assert [t.params for t in modelled] == [t.params for t in plain]
    assert recording.instances == []


def test_bohb_draws_its_whole_first_bracket_at_random(recording: type[Recording]) -> None:
    """With checkpoints the first bracket starts above the smallest resource, and its
    results come in while it still draws: the model waits for the next bracket anyway."""
    space = SearchSpace({"x": Float(0.0, 1.0)})
    options = {"resource": RESOURCE, "max_resource": 27, "eta": 3, "checkpoints": True}
    plain = Hyperband(space, seed=2, **options)  # type: ignore[arg-type]
    first = sum(r.n_configurations for r in plain.brackets[1].rungs)  # 12 x 3, 4 x 9, 2 x 27
    expected = [t.params for t in run_sequentially(plain, first)]
    modelled = recording_bohb(seed=2, min_points=3, max_resource=27, checkpoints=True)
    assert [t.params for t in run_sequentially(modelled, first)] == expected
    assert recording.instances == []
    assert modelled.ask() == {"x": 0.123, RESOURCE: 1}  # the second bracket's first draw


def test_bohb_models_the_largest_resource_with_enough_results(recording: type[Recording]) -> None:
    """New configurations come from a model of the largest resource with min_points results."""
    search = recording_bohb(min_points=3, direction="maximize")
    trials = list(run_sequentially(search, 14, loss=lambda c: float(c["x"])))
    # The first bracket ran 9 x 1, 3 x 3, 2 x 9; the next is the full-resource bracket,
    # whose configurations come from the model of resource 3 (3 results; 9 has 2).
    assert search.ask() == {"x": 0.123, RESOURCE: 9}
    [model] = recording.instances
    on_three = [t for t in trials if t.params[RESOURCE] == 3]
    assert [t.params for t in model.told] == [{"x": t.params["x"]} for t in on_three]
    assert [t.value for t in model.told] == [-float(t.params["x"]) for t in on_three]


def test_bohb_never_models_the_smallest_resource(recording: type[Recording]) -> None:
    """One-epoch values rank by how fast a configuration learns, not how well it ends."""
    search = recording_bohb(min_points=3)
    list(run_sequentially(search, 40))
    levels = []
    for model in recording.instances:
        # loss_of is x + 1/resource: each model saw the results of a single resource.
        seen = {round(1 / (float(t.value or 0) - float(t.params["x"]))) for t in model.told}
        assert len(seen) == 1 and all(RESOURCE not in t.params for t in model.told)
        levels.extend(seen)
    assert 1 not in levels and levels == sorted(levels) and set(levels) == {3, 9}


def test_bohb_runs_the_full_resource_bracket_second() -> None:
    """After the most aggressive bracket comes the full-resource one, then Hyperband's order."""
    search = BOHB(SPACE, seed=0, resource=RESOURCE, max_resource=27, eta=3, model="random")
    resources = [c[RESOURCE] for c in ask_many(search, 27 + 4 + 12 + 6) if c is not None]
    assert resources == [1] * 27 + [27] * 4 + [3] * 12 + [9] * 6


def test_bohb_options_are_checked() -> None:
    """An unknown model, itself as its model, or a bad random_fraction are clear errors."""
    space = SearchSpace({"c": Categorical(["a", "b"])}, static={"epochs": 9})
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        BOHB(space, resource="epochs", model="nope")
    with pytest.raises(ConfigError, match="cannot model itself"):
        BOHB(space, resource="epochs", model="bohb")
    with pytest.raises(ConfigError, match=r"random_fraction: must be a number in \[0, 1\]"):
        BOHB(space, resource="epochs", model="random", random_fraction=2)
