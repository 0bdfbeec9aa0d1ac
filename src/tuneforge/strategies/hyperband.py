"""Hyperband and its model-based variant (BOHB) as ask/tell strategies.

Hyperband (Li et al., 2018) runs *brackets* of successive halving. Bracket ``s`` starts
``n`` configurations on a small resource (epochs, boosting rounds, data fraction...) and
runs the best ``1/eta`` of each rung again on ``eta`` times the resource, up to
``max_resource``; the brackets differ in how small they start, so a problem whose early
results mislead still gets configurations run on the full resource from the start. For
``min_resource=1, max_resource=81, eta=3`` (see :func:`hyperband_brackets`)::

    bracket s=4: 81 x 1, 27 x 3, 9 x 9, 3 x 27, 1 x 81
    bracket s=3: 34 x 3, 11 x 9, 3 x 27, 1 x 81
    bracket s=2: 15 x 9,  5 x 27, 1 x 81
    bracket s=1:  8 x 27, 2 x 81
    bracket s=0:  5 x 81

The resource reaches the trial as a parameter of its configuration (``resource: epochs``
makes every configuration hold ``epochs``), so ``${epochs}`` in a command, the
``TUNEFORGE_PARAM_EPOCHS`` variable or ``params["epochs"]`` in Python set it; scripts need
no intermediate reporting. A configuration promoted to the next rung runs again, from
scratch, as a new trial with the larger resource (scripts without checkpoints).

Promotion is asynchronous, as in ASHA (Li et al., 2020): when a slot frees, a finished run
of a rung is promoted as soon as it is in the top ``1/eta`` of the results its rung has
so far (and the next rung still has room); otherwise a new configuration starts in the
newest bracket, and a new bracket opens when that one has started all its
configurations. ``ask`` therefore never returns ``None`` and never leaves a slot idle
while a bracket waits for its slowest trial.

``bohb`` (Falkner et al., 2018) draws the new configurations of a bracket from a model
instead of at random: another strategy (``model: forest`` or ``bayesian``) told only the
results of the largest resource that has at least ``min_points`` completed runs; a
``random_fraction`` of the new configurations stays random, which keeps the search from
trusting a poor model forever.

Example:
    >>> from tuneforge.space import SearchSpace, Float
    >>> space = SearchSpace({"lr": Float(1e-4, 1.0, log=True)}, static={"epochs": 27})
    >>> search = Hyperband(space, seed=0, resource="epochs", eta=3)
    >>> [rung.resource for rung in search.brackets[0].rungs]
    [1, 3, 9, 27]
    >>> search.ask()["epochs"]
    1
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tuneforge.errors import ConfigError
from tuneforge.space import SearchSpace
from tuneforge.strategies.base import Config, Strategy, make_strategy, register, strategy_class
from tuneforge.trial import Trial, TrialState

Key = tuple[tuple[str, Hashable], ...]


@dataclass(frozen=True)
class Rung:
    """One step of successive halving: how many configurations run on how much resource."""

    resource: int
    n_configurations: int


@dataclass(frozen=True)
class Bracket:
    """One run of successive halving; ``s`` is how many times it halves (0: no halving)."""

    s: int
    rungs: tuple[Rung, ...]

    @property
    def budget(self) -> int:
        """The resource the whole bracket spends when nothing fails (no checkpoints)."""
        return sum(r.resource * r.n_configurations for r in self.rungs)


def hyperband_brackets(min_resource: int, max_resource: int, eta: int) -> list[Bracket]:
    """The brackets of one Hyperband iteration, most aggressive first.

    With ``s_max = floor(log_eta(max_resource / min_resource))``, bracket ``s`` starts
    ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at resource
    ``max_resource * eta**-s`` and keeps ``floor(n * eta**-i)`` of them at rung ``i``.
    Resources are rounded to integers and never below ``min_resource``.

    Example:
        >>> [(r.n_configurations, r.resource) for r in hyperband_brackets(1, 9, 3)[0].rungs]
        [(9, 1), (3, 3), (1, 9)]
    """
    _check_int("min_resource", min_resource, 1)
    _check_int("eta", eta, 2)
    _check_int("max_resource", max_resource, min_resource)
    s_max = _s_max(min_resource, max_resource, eta)
    levels = [max(min_resource, round(max_resource / eta ** (s_max - k))) for k in range(s_max + 1)]
    brackets = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta**s // (s + 1))  # ceil without floats
        rungs = tuple(Rung(levels[s_max - s + i], n // eta**i) for i in range(s + 1))
        brackets.append(Bracket(s, rungs))
    return brackets


def _s_max(min_resource: int, max_resource: int, eta: int) -> int:
    """floor(log_eta(max/min)) computed on integers, so 81/1 with eta 3 is exactly 4."""
    s = 0
    while min_resource * eta ** (s + 1) <= max_resource:
        s += 1
    return s


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"strategy_options.{name}: the {name!r} option of hyperband must be an int in the "
            f"range [{minimum}, inf). Got {value!r} instead."
        )
    return value


# -- the state of running brackets -------------------------------------------------------------


@dataclass
class _Run:
    """One configuration at one rung of one bracket; ``loss`` is the value, lower is better."""

    key: Key
    config: Config
    done: bool = False
    loss: float | None = None  # None: not finished, failed, or stopped


@dataclass
class _BracketRun:
    number: int
    bracket: Bracket
    runs: list[list[_Run]] = field(default_factory=list)
    promoted: list[set[Key]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.runs = [[] for _ in self.bracket.rungs]
        self.promoted = [set() for _ in self.bracket.rungs]

    def has_room(self, rung: int) -> bool:
        return len(self.runs[rung]) < self.bracket.rungs[rung].n_configurations

    def promotable(self, rung: int, eta: int) -> list[_Run]:
        """Finished runs of ``rung`` in the top 1/eta of its results, not yet promoted."""
        if rung + 1 >= len(self.runs) or not self.has_room(rung + 1):
            return []
        finished = [r for r in self.runs[rung] if r.done]
        n_top = len(finished) // eta
        ranked = sorted(
            (r for r in finished if r.loss is not None),
            key=lambda r: r.loss if r.loss is not None else math.inf,
        )
        return [r for r in ranked[:n_top] if r.key not in self.promoted[rung]]

    def promotion(self, eta: int) -> tuple[int, _Run] | None:
        """The deepest promotion possible now (deeper rungs first, as ASHA does)."""
        for rung in range(len(self.runs) - 2, -1, -1):
            candidates = self.promotable(rung, eta)
            if candidates:
                return rung, candidates[0]
        return None

    def is_closed(self, eta: int) -> bool:
        """Nothing can happen in this bracket any more: all started, all done, no promotion."""
        return (
            not self.has_room(0)
            and all(r.done for runs in self.runs for r in runs)
            and self.promotion(eta) is None
        )


@dataclass(frozen=True)
class _Action:
    """What ``ask`` decided: run ``config`` at ``rung`` of bracket ``bracket`` (a number)."""

    bracket: int
    rung: int
    config: Config
    promoted: _Run | None = None  # the run of the rung below, for a promotion


def _key(config: Any) -> Key:
    return tuple(sorted((str(k), v) for k, v in dict(config).items()))


@register("hyperband")
class Hyperband(Strategy):
    """Hyperband with asynchronous (ASHA-style) promotions; the resource is a parameter.

    Options:
        resource: the name of the parameter that carries the resource (``epochs``). It
            must not be a tuned parameter; declare it in ``static:`` so ``${epochs}``
            passes the job file's checks (hyperband overrides it in every trial).
        min_resource: the smallest resource a configuration runs with.
        max_resource: the full resource; by default the static value of ``resource``.
        eta: the reduction factor: each rung keeps the best ``1/eta``.

    ``direction`` is the job's (``make_strategy`` passes it), not an option.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        resource: str,
        min_resource: int = 1,
        max_resource: int | None = None,
        eta: int = 3,
        direction: str = "minimize",
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if not isinstance(resource, str) or not resource.strip():
            raise ConfigError(
                f"strategy_options.resource: expected the name of the resource parameter "
                f"(e.g. 'epochs'), got {resource!r}."
            )
        if resource in space:
            raise ConfigError(
                f"strategy_options.resource: {resource!r} is a tuned parameter; hyperband sets "
                f"it in every trial, so remove it from parameters and give its full value in "
                f"static (e.g. static: {{{resource}: 81}})."
            )
        if max_resource is None:
            full = space.static.get(resource)
            if isinstance(full, bool) or not isinstance(full, int):
                raise ConfigError(
                    f"strategy_options.max_resource: hyperband needs the full resource; give "
                    f"max_resource, or an int static value {resource!r} (got {full!r})."
                )
            max_resource = full
        self.resource = resource
        self.min_resource = _check_int("min_resource", min_resource, 1)
        self.eta = _check_int("eta", eta, 2)
        if isinstance(max_resource, bool) or not isinstance(max_resource, int):
            raise ConfigError(
                f"strategy_options.max_resource: must be an int, got {max_resource!r}."
            )
        if max_resource < self.min_resource * self.eta:
            raise ConfigError(
                f"strategy_options.max_resource: must be at least min_resource * eta = "
                f"{self.min_resource * self.eta} so that one rung can be halved, got "
                f"{max_resource!r}."
            )
        self.max_resource = max_resource
        self.brackets = hyperband_brackets(self.min_resource, self.max_resource, self.eta)
        self._runs: list[_BracketRun] = []
        self._open: list[_BracketRun] = []
        self._pending: dict[Key, deque[_Run]] = {}

    # -- ask / tell ------------------------------------------------------------------------
    def ask(self) -> Config | None:
        action = self._next_action()
        self._commit(action)
        return self._configuration(action)

    def tell(self, trial: Trial) -> None:
        queue = self._pending.get(_key(trial.params))
        run = queue.popleft() if queue else None
        if queue is not None and not queue:
            del self._pending[_key(trial.params)]
        loss = self._loss(trial)
        if run is not None:
            run.done = True
            run.loss = loss
            self._open = [b for b in self._open if not b.is_closed(self.eta)]
        if loss is not None:
            self._observed(trial, loss)

    def restore(self, trials: Sequence[Trial]) -> None:
        """Replay the asks and tells of ``trials`` in the order they happened.

        Asks are ordered by trial number at the time the trial started (a trial starts
        right after its ask) and tells at the time it finished, which reproduces the
        interleaving of a running job. A stored configuration that is not what the
        replayed ask proposes (a job resumed with other options) is adopted where it fits:
        as the promotion it matches, else as a new configuration of the newest bracket.
        """
        ordered = sorted(trials, key=lambda t: t.number)
        asked = [t for t in ordered if t.origin == "strategy"]
        ask_times: dict[int, float] = {}
        earliest = math.inf
        for trial in reversed(asked):  # asks happen in number order: a suffix minimum
            if trial.started_at is not None:
                earliest = min(earliest, trial.started_at)
            ask_times[trial.number] = earliest
        events: list[tuple[float, int, int, Trial]] = []
        for trial in asked:
            events.append((ask_times[trial.number], 1, trial.number, trial))
        for trial in ordered:
            if trial.state.is_finished():
                finished = trial.finished_at if trial.finished_at is not None else math.inf
                events.append((finished, 0, trial.number, trial))
        # At equal times a tell comes first: the controller records, then fills slots.
        for _, kind, _, trial in sorted(events, key=lambda e: (e[0], e[1], e[2])):
            if kind == 0:
                self.tell(trial)
            else:
                self._replay_ask(trial)

    # -- the schedule ----------------------------------------------------------------------
    def _next_action(self) -> _Action:
        for bracket in self._open:
            promotion = bracket.promotion(self.eta)
            if promotion is not None:
                rung, run = promotion
                return _Action(bracket.number, rung + 1, run.config, promoted=run)
        newest = self._runs[-1] if self._runs else None
        number = newest.number if newest is not None and newest.has_room(0) else len(self._runs)
        return _Action(number, 0, self._new_configuration(self._bracket(number)))

    def _bracket(self, number: int) -> Bracket:
        return self.brackets[number % len(self.brackets)]

    def _commit(self, action: _Action) -> None:
        while action.bracket >= len(self._runs):
            opened = _BracketRun(len(self._runs), self._bracket(len(self._runs)))
            self._runs.append(opened)
            self._open.append(opened)
        bracket = self._runs[action.bracket]
        if action.promoted is not None:
            bracket.promoted[action.rung - 1].add(action.promoted.key)
        run = _Run(_key(action.config), dict(action.config))
        bracket.runs[action.rung].append(run)
        full = _key(self._configuration(action))
        self._pending.setdefault(full, deque()).append(run)

    def _configuration(self, action: _Action) -> Config:
        resource = self._bracket(action.bracket).rungs[action.rung].resource
        return {**action.config, self.resource: resource}

    def _replay_ask(self, trial: Trial) -> None:
        action = self._next_action()
        if _key(self._configuration(action)) != _key(trial.params):
            action = self._adopt(trial.params)
        self._commit(action)

    def _adopt(self, params: Any) -> _Action:
        """Where a stored configuration fits: a promotion it matches, else a new run."""
        config = {k: v for k, v in dict(params).items() if k != self.resource}
        resource = dict(params).get(self.resource)
        key = _key(config)
        for bracket in self._open:
            rungs = bracket.bracket.rungs
            for rung in range(len(rungs) - 1):
                if rungs[rung + 1].resource != resource or not bracket.has_room(rung + 1):
                    continue
                for run in bracket.runs[rung]:
                    if run.key == key and run.done and key not in bracket.promoted[rung]:
                        return _Action(bracket.number, rung + 1, run.config, promoted=run)
        number = len(self._runs)
        newest = self._runs[-1] if self._runs else None
        if newest is not None and newest.has_room(0):
            number = newest.number
        for candidate in range(number, number + len(self.brackets)):
            if self._bracket(candidate).rungs[0].resource == resource:
                return _Action(candidate, 0, config)
        return _Action(number, 0, config)  # a resource off the schedule: a new run anyway

    # -- hooks for the model-based variant -------------------------------------------------
    def _new_configuration(self, bracket: Bracket) -> Config:
        """A configuration for the first rung of ``bracket``; Hyperband draws at random."""
        return self.space.sample(self.rng)

    def _observed(self, trial: Trial, loss: float) -> None:
        """A completed trial with a finite value (``loss``: lower is better)."""

    def _loss(self, trial: Trial) -> float | None:
        if trial.state is not TrialState.COMPLETED or trial.value is None:
            return None
        if not math.isfinite(trial.value):
            return None
        return -trial.value if self.direction == "maximize" else trial.value

    def resource_of(self, trial: Trial) -> int:
        """The resource a trial ran with (the static value when it did not set one)."""
        value = trial.params.get(self.resource, self.space.static.get(self.resource))
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.max_resource
        return int(value)


@register("bohb")
class BOHB(Hyperband):
    """Hyperband whose new configurations come from a model of the largest resource.

    Options (besides Hyperband's):
        model: the strategy that proposes configurations (``forest``, ``bayesian``...);
            it is told the completed trials of the largest resource that has at least
            ``min_points`` of them, with the resource removed and the value as a loss.
        min_points: completed runs a resource needs before its model is used; by default
            the number of parameters plus one.
        random_fraction: the share of new configurations drawn at random anyway.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        resource: str,
        min_resource: int = 1,
        max_resource: int | None = None,
        eta: int = 3,
        direction: str = "minimize",
        model: str = "forest",
        min_points: int | None = None,
        random_fraction: float = 1 / 3,
    ) -> None:
        super().__init__(
            space,
            seed=seed,
            resource=resource,
            min_resource=min_resource,
            max_resource=max_resource,
            eta=eta,
            direction=direction,
        )
        if model in ("hyperband", "bohb"):
            raise ConfigError(
                f"strategy_options.model: {model!r} cannot model itself; use a strategy that "
                f"learns from results, such as forest or bayesian."
            )
        strategy_class(model)  # an unknown name is a ConfigError that lists the valid ones
        self.model = model
        default_points = len(space) + 1
        self.min_points = _check_int(
            "min_points", default_points if min_points is None else min_points, 1
        )
        if (
            isinstance(random_fraction, bool)
            or not isinstance(random_fraction, int | float)
            or not 0.0 <= random_fraction <= 1.0
        ):
            raise ConfigError(
                f"strategy_options.random_fraction: must be a number in [0, 1], got "
                f"{random_fraction!r}."
            )
        self.random_fraction = float(random_fraction)
        self._results: dict[int, list[Trial]] = {}

    @property
    def model_resource(self) -> int | None:
        """The resource whose results the model learns from (``None``: not enough data yet)."""
        enough = [r for r, trials in self._results.items() if len(trials) >= self.min_points]
        return max(enough) if enough else None

    def _observed(self, trial: Trial, loss: float) -> None:
        config = {k: v for k, v in trial.params.items() if k != self.resource}
        # The model always minimizes: it gets the loss, whatever the job's direction.
        as_loss = replace(trial, params=config, value=loss, state=TrialState.COMPLETED)
        self._results.setdefault(self.resource_of(trial), []).append(as_loss)

    def _new_configuration(self, bracket: Bracket) -> Config:
        explore = self.rng.random() < self.random_fraction
        level = self.model_resource
        if explore or level is None:
            return self.space.sample(self.rng)
        # A fresh model per configuration: the runs it proposes finish on other resources
        # and are never told to it, so a kept model would carry them as pending forever.
        model = make_strategy(self.model, self.space, seed=int(self.rng.integers(2**31 - 1)))
        for trial in self._results[level]:
            model.tell(trial)
        proposal = model.ask()
        if proposal is None:
            return self.space.sample(self.rng)
        return self.space.check(proposal)
