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

Two changes to the paper's schedule, both measured on real learning curves
(``benchmarks/early_stopping.md``): a bracket that ends on one configuration ends on two
(:func:`hedged`), since the last low-resource ranking is the one that costs most when it
is wrong; and the full-resource bracket runs second, after the most aggressive one, so
that early in a job the best found is not staked on a single ranking.

The resource reaches the trial as a parameter of its configuration (``resource: epochs``
makes every configuration hold ``epochs``), so ``${epochs}`` in a command, the
``TUNEFORGE_PARAM_EPOCHS`` variable or ``params["epochs"]`` in Python set it; scripts need
no intermediate reporting. A configuration promoted to the next rung runs again as a new
trial with the larger resource, told which trial ran it on the rung below (the
``continues`` of the ``Suggestion`` that ``ask`` returns): that trial's folder is its
``${resume_dir}`` (``trial.resume_dir`` in Python). A script that saves a checkpoint in
its trial folder can load it from there and train only the rest; one that does not
trains from scratch.

``checkpoints: true`` says the script does so. Promotions then cost only the extra
resource, which makes the aggressive brackets cheap, and the schedule changes with it:
the brackets run from the second most aggressive down (s_max-1, s_max, s_max-2, ..., 0),
with the full-resource bracket last, as measured on the same curves replayed with
checkpoints.

Promotions are synchronous within a bracket: a rung's best go on once all of its results
are in, so they are the best of the whole rung. (ASHA's asynchronous promotions, tried
first, promote from the first few results and measured worse: without checkpoints a
wrong promotion costs a whole retraining.) Slots never wait for that, though: while a
bracket's rung is still running, a free slot takes work from the next bracket, opening
one when every open bracket waits, so ``ask`` never returns ``None`` and never idles.

``bohb`` (Falkner et al., 2018) draws the new configurations of a bracket from a model
instead of at random: another strategy (``model: forest`` or ``bayesian``) told only the
results of the largest resource that has at least ``min_points`` completed runs, never
the smallest resource (its values rank configurations by how fast they learn, not how
well they end); a ``random_fraction`` of the new configurations stays random, which keeps
the search from trusting a poor model forever. In its first bracket, and until the model
has data, ``bohb`` draws exactly what ``hyperband`` draws with the same seed.

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
from tuneforge.strategies.base import (
    Config,
    Strategy,
    Suggestion,
    make_strategy,
    register,
    strategy_class,
)
from tuneforge.trial import Trial, TrialOrigin, TrialState

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


def hedged(bracket: Bracket) -> Bracket:
    """``bracket`` with at least two configurations on its full resource, where it halves.

    Most of the paper's brackets end on a single configuration (for eta 3, those that
    halve more than once): the best on the rung below, which a low-resource ranking
    often gets wrong (a model that learns fast and then overfits). A second one costs one
    more full run per bracket and is the cheapest hedge against that (measured in
    ``benchmarks/early_stopping.md``).

    Example:
        >>> first = hedged(hyperband_brackets(1, 9, 3)[0])
        >>> [(r.n_configurations, r.resource) for r in first.rungs]
        [(9, 1), (3, 3), (2, 9)]
    """
    if len(bracket.rungs) < 2 or bracket.rungs[-1].n_configurations >= 2:
        return bracket
    *lower, last = bracket.rungs
    return Bracket(bracket.s, (*lower, Rung(last.resource, 2)))


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
    number: int | None = None  # the trial that ran it, once told


@dataclass
class _BracketRun:
    """Successive halving in one bracket, synchronously: a rung's best go on once it is done.

    ``expected[i]`` is how many runs rung ``i`` will hold (rung 0: the table's; a higher
    rung: how many were promoted to it, known when the rung below is done). ``waiting``
    holds the promotions decided and not started yet.
    """

    number: int
    bracket: Bracket
    runs: list[list[_Run]] = field(default_factory=list)
    expected: list[int | None] = field(default_factory=list)
    waiting: deque[tuple[int, _Run]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.runs = [[] for _ in self.bracket.rungs]
        self.expected = [self.bracket.rungs[0].n_configurations] + [None] * (
            len(self.bracket.rungs) - 1
        )

    def has_room(self, rung: int) -> bool:
        """Rung 0 takes new configurations until it holds the table's number of them."""
        expected = self.expected[rung]
        return expected is not None and len(self.runs[rung]) < expected

    def is_done(self, rung: int) -> bool:
        expected = self.expected[rung]
        return (
            expected is not None
            and len(self.runs[rung]) == expected
            and all(r.done for r in self.runs[rung])
        )

    def promote(self) -> None:
        """Decide the promotions of every rung that just finished.

        The best ``n`` finite results of a finished rung go on, ``n`` from the table: the
        ranking is that of the whole rung, not of the first results that came in, which
        matters when low-resource values rank the configurations only roughly.
        """
        for rung in range(len(self.runs) - 1):
            if self.expected[rung + 1] is not None or not self.is_done(rung):
                continue
            ranked = sorted(
                (r for r in self.runs[rung] if r.loss is not None),
                key=lambda r: r.loss if r.loss is not None else math.inf,
            )
            chosen = ranked[: self.bracket.rungs[rung + 1].n_configurations]
            self.expected[rung + 1] = len(chosen)
            self.waiting.extend((rung + 1, run) for run in chosen)

    def is_closed(self) -> bool:
        """Nothing can happen in this bracket any more: every rung decided and done."""
        return not self.waiting and all(
            self.expected[i] is not None and self.is_done(i) for i in range(len(self.runs))
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
    """Hyperband whose free slots never wait for a rung; the resource is a parameter.

    Options:
        resource: the name of the parameter that carries the resource (``epochs``). It
            must not be a tuned parameter; declare it in ``static:`` so ``${epochs}``
            passes the job file's checks (hyperband overrides it in every trial).
        min_resource: the smallest resource a configuration runs with.
        max_resource: the full resource; by default the static value of ``resource``.
        eta: the reduction factor: each rung keeps the best ``1/eta``.
        checkpoints: whether the trials continue from the checkpoint of the run they
            promote (``${resume_dir}``), so a promotion costs only the extra resource;
            it changes the order of the brackets (see the module docstring).

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
        checkpoints: bool = False,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        if not isinstance(checkpoints, bool):
            raise ConfigError(
                f"strategy_options.checkpoints: must be true or false, got {checkpoints!r}."
            )
        self.checkpoints = checkpoints
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
        self.brackets = [
            hedged(b) for b in hyperband_brackets(self.min_resource, self.max_resource, self.eta)
        ]
        self._runs: list[_BracketRun] = []
        self._open: list[_BracketRun] = []
        self._pending: dict[Key, deque[tuple[_BracketRun, _Run]]] = {}

    # -- ask / tell ------------------------------------------------------------------------
    def ask(self) -> Suggestion | None:
        """The next run; a promotion continues the trial that ran it on the rung below."""
        action = self._next_action()
        self._commit(action)
        parent = action.promoted.number if action.promoted is not None else None
        return Suggestion(self._configuration(action), continues=parent)

    def tell(self, trial: Trial) -> None:
        queue = self._pending.get(_key(trial.params))
        entry = queue.popleft() if queue else None
        if queue is not None and not queue:
            del self._pending[_key(trial.params)]
        loss = self._loss(trial)
        if entry is not None:
            bracket, run = entry
            run.done = True
            run.loss = loss
            run.number = trial.number
            bracket.promote()
            self._open = [b for b in self._open if not b.is_closed()]
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
        asked = [t for t in ordered if t.origin == TrialOrigin.STRATEGY]
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
        """The oldest open bracket's next run: a waiting promotion, else a new configuration.

        A bracket whose rung is still running has nothing to start; the next one does, and
        when every open bracket waits, a new bracket opens, so a free slot never idles.
        """
        for bracket in self._open:
            if bracket.waiting:
                rung, run = bracket.waiting[0]
                return _Action(bracket.number, rung, run.config, promoted=run)
            if bracket.has_room(0):
                return _Action(bracket.number, 0, self._new_configuration(bracket.number))
        number = len(self._runs)
        return _Action(number, 0, self._new_configuration(number))

    def _bracket(self, number: int) -> Bracket:
        order = self._bracket_order()
        return self.brackets[order[number % len(order)]]

    def _bracket_order(self) -> list[int]:
        """Indices into ``brackets``, repeated: the most aggressive bracket, then the one
        on the full resource, then the others from the most aggressive down.

        The full-resource bracket comes second so that, early in a job, the best found is
        not all staked on the first bracket's single low-resource ranking; for ``bohb`` it
        also runs the model's first proposals on the full resource at once. With
        ``checkpoints``, the second most aggressive bracket comes first, then the most
        aggressive, then the others down to the full-resource one: a promotion costs
        only the extra resource, so the brackets that rank many configurations are the
        cheap ones.
        """
        order = list(range(len(self.brackets)))
        if len(order) <= 2:
            return order
        if self.checkpoints:
            return [1, 0, *order[2:]]
        return order[:1] + order[-1:] + order[1:-1]

    def _commit(self, action: _Action) -> None:
        while action.bracket >= len(self._runs):
            opened = _BracketRun(len(self._runs), self._bracket(len(self._runs)))
            self._runs.append(opened)
            self._open.append(opened)
        bracket = self._runs[action.bracket]
        if action.promoted is not None:
            for index, (_, waiting) in enumerate(bracket.waiting):
                if waiting is action.promoted:
                    del bracket.waiting[index]
                    break
        run = _Run(_key(action.config), dict(action.config))
        bracket.runs[action.rung].append(run)
        full = _key(self._configuration(action))
        self._pending.setdefault(full, deque()).append((bracket, run))

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
            for rung, run in bracket.waiting:
                if run.key == key and bracket.bracket.rungs[rung].resource == resource:
                    return _Action(bracket.number, rung, run.config, promoted=run)
        for bracket in self._open:
            if bracket.has_room(0) and bracket.bracket.rungs[0].resource == resource:
                return _Action(bracket.number, 0, config)
        number = len(self._runs)
        for candidate in range(number, number + len(self.brackets)):
            if self._bracket(candidate).rungs[0].resource == resource:
                return _Action(candidate, 0, config)
        return _Action(number, 0, config)  # a resource off the schedule: a new run anyway

    # -- hooks for the model-based variant -------------------------------------------------
    def _new_configuration(self, number: int) -> Config:
        """A configuration for the first rung of the job's ``number``-th bracket (from 0);
        Hyperband draws at random."""
        return self.space.sample(self.rng)

    def _observed(self, trial: Trial, loss: float) -> None:
        """A completed trial with a finite value (``loss``: lower is better)."""

    def _loss(self, trial: Trial) -> float | None:
        if trial.state is not TrialState.COMPLETED or trial.value is None:
            return None
        if not math.isfinite(trial.value):
            return None
        return self.direction.sign * trial.value

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
        checkpoints: bool = False,
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
            checkpoints=checkpoints,
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
        enough = [
            r
            for r, trials in self._results.items()
            if len(trials) >= self.min_points and r > self.min_resource
        ]
        return max(enough) if enough else None

    def _observed(self, trial: Trial, loss: float) -> None:
        config = {k: v for k, v in trial.params.items() if k != self.resource}
        # The model always minimizes: it gets the loss, whatever the job's direction.
        as_loss = replace(trial, params=config, value=loss, state=TrialState.COMPLETED)
        self._results.setdefault(self.resource_of(trial), []).append(as_loss)

    def _new_configuration(self, number: int) -> Config:
        level = self.model_resource
        if level is None or number == 0:
            # As Hyperband: the same seed, the same draws. The first bracket's results come
            # in while it still draws, and a model of its first few low-resource values
            # picked fast starters that did not end best.
            return self.space.sample(self.rng)
        if self.rng.random() < self.random_fraction:
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
