"""The ask/tell interface every search strategy implements, and the registry of strategies.

A strategy proposes configurations (``ask``) and learns from finished trials (``tell``).
It sees the search space and the trials, never processes, storage or the controller, so
it can be tested with plain values and reused from ``tuneforge.optimize``.

To add a strategy, write one module in ``tuneforge/strategies/`` (or any installed
package, through the ``tuneforge.strategies`` entry point group)::

    @register("my-search")
    class MySearch(Strategy):
        def __init__(self, space, *, seed=None, temperature: float = 1.0) -> None:
            super().__init__(space, seed=seed)
            ...
        def ask(self):
            return Suggestion(self.space.sample(self.rng))

Its keyword-only constructor arguments are its options (the job file's
``strategy_options``); they are checked against the signature before it is built.
``seed`` and ``direction`` are not options: the job gives them (a strategy that learns
from values reads ``self.direction``, a :class:`~tuneforge.trial.Direction`; one that defines
its own ``__init__`` without ``direction`` is built without it).

A *family* of strategies shares one class and takes the rest of a ``prefix:suffix`` name
as an option: ``@register_family("optuna", option="sampler")`` makes ``optuna:TPESampler``
build the class with ``sampler="TPESampler"`` (``optuna`` alone uses the option's default).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from tuneforge.errors import ConfigError
from tuneforge.registry import Registry
from tuneforge.space import Scalar, SearchSpace
from tuneforge.trial import Direction, Trial, TrialOrigin

Config = dict[str, Scalar]


class Suggestion(Mapping[str, Scalar]):
    """A configuration ``ask`` proposes, and the earlier trial it continues, if any.

    It reads as the configuration itself (``config["lr"]``, ``dict(config)``, ``config ==
    {...}`` compare the values only). ``continues`` names the trial whose saved state it
    can start from: a strategy that runs a configuration again on a larger resource
    (``hyperband``) names the trial that ran it on the smaller one; the new trial then
    gets that trial's folder as ``${resume_dir}`` (``trial.resume_dir`` in Python) and may
    load its checkpoint instead of training from scratch. ``None``: start afresh.

    It cannot be changed, and it copies what it is made from, so a strategy never shares
    its own dicts with the caller.

    >>> config = Suggestion({"lr": 0.1, "epochs": 9}, continues=4)
    >>> config["epochs"], config.continues, config == {"lr": 0.1, "epochs": 9}
    (9, 4, True)
    >>> Suggestion({"lr": 0.1})
    {'lr': 0.1}
    """

    __slots__ = ("_config", "_continues")

    def __init__(self, config: Mapping[str, Scalar], continues: int | None = None) -> None:
        self._config: Config = dict(config)
        self._continues = continues

    @property
    def continues(self) -> int | None:
        """The number of the earlier trial this configuration continues, or ``None``."""
        return self._continues

    def __getitem__(self, name: str) -> Scalar:
        return self._config[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._config)

    def __len__(self) -> int:
        return len(self._config)

    def __contains__(self, name: object) -> bool:
        return name in self._config

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Suggestion):
            return self._config == other._config
        if isinstance(other, Mapping):
            return self._config == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        # Printed as the configuration it is; the trial it continues only when there is one.
        if self._continues is None:
            return repr(self._config)
        return f"Suggestion({self._config!r}, continues={self._continues})"

    def __reduce__(self) -> tuple[type[Suggestion], tuple[Config, int | None]]:
        return (Suggestion, (self._config, self._continues))


class Strategy(abc.ABC):
    """Proposes configurations to try.

    An implementation must:
      * take ``space`` and a keyword-only ``seed`` (plus its own keyword-only options) and
        draw every random number from ``self.rng``, so the same seed gives the same
        configurations;
      * implement ``ask``, returning a :class:`Suggestion` of a valid configuration
        (``space.check`` would accept it), with the trial it continues if it runs an
        earlier configuration again, or ``None`` when it has nothing left to propose;
      * optionally implement ``tell`` to learn from finished trials, and
        ``n_configurations`` when it has a finite number of configurations.
    """

    name: ClassVar[str] = ""

    def __init__(
        self, space: SearchSpace, *, seed: int | None = None, direction: str = "minimize"
    ) -> None:
        try:
            self.direction = Direction.parse(direction)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @abc.abstractmethod
    def ask(self) -> Suggestion | None:
        """The next configuration to run, or ``None`` when the strategy is exhausted."""

    def tell(self, trial: Trial) -> None:  # noqa: B027 - most strategies learn nothing
        """Learn from a finished trial (completed, failed or stopped)."""

    @property
    def n_configurations(self) -> int | None:
        """How many configurations the strategy can propose in all; ``None`` if unbounded."""
        return None

    @classmethod
    def prepare_options(
        cls,
        options: dict[str, Any],
        *,
        name: str,
        space: SearchSpace | None,
        design: Any,
        base_dir: str,
    ) -> dict[str, Any]:
        """The options to build the strategy with, completed from the job file's sections.

        The job file calls this before building the strategy, with the name the job gave
        (``optuna:TPESampler``), its space (``None`` when the space has problems of its
        own), its ``design:`` section (``None`` if absent) and the folder relative paths
        start from. Raise ``ConfigError`` with one line per problem. The default reads no
        section, so a ``design:`` given to another strategy is refused.
        """
        if design is not None:
            raise ConfigError(
                f"design: only the design strategy reads it, got strategy {name!r}; set "
                f"strategy: design, or remove design:."
            )
        return options

    def check_limits(self, *, max_trials: int) -> list[str]:
        """Problems of the job's limits with this strategy, one line each (default: none).

        A finite strategy that cannot finish within ``max_trials`` says so and how to fix it.
        """
        return []

    def warm_start(self, trials: Sequence[Trial]) -> None:
        """Learn from finished trials of earlier jobs before this job asks anything.

        The default tells each one; their numbers belong to other jobs, so a strategy
        that tracks trials by number must keep them apart.
        """
        for trial in trials:
            if trial.state.is_finished():
                self.tell(trial)

    def restore(self, trials: Sequence[Trial]) -> None:
        """Bring a new strategy to where it was after ``trials`` (resuming a job).

        The default asks once for every trial the strategy itself proposed, in order, so
        that seeded sequences continue where they stopped, then tells every finished one.
        """
        for trial in sorted(trials, key=lambda t: t.number):
            if trial.origin == TrialOrigin.STRATEGY:
                self.ask()
        for trial in trials:
            if trial.state.is_finished():
                self.tell(trial)


StrategyClass = TypeVar("StrategyClass", bound=type[Strategy])
#: Every strategy by name: this package's modules and the ``tuneforge.strategies`` entry points.
STRATEGIES: Registry[Strategy] = Registry(
    Strategy,
    field="strategy",
    kind="strategy",
    group="tuneforge.strategies",
    package="tuneforge.strategies",
)
#: prefix -> the option that the rest of a ``prefix:suffix`` name fills.
_FAMILIES: dict[str, str] = {}
#: Constructor arguments the job gives; they are not ``strategy_options``.
_NOT_OPTIONS = ("seed", "direction")


def register(name: str) -> Callable[[StrategyClass], StrategyClass]:
    """Class decorator that makes a strategy available under ``name``."""
    return STRATEGIES.register(name)


def register_family(prefix: str, *, option: str) -> Callable[[StrategyClass], StrategyClass]:
    """Like ``register(prefix)``, and ``prefix:<suffix>`` builds it with ``option=suffix``."""

    def decorate(cls: StrategyClass) -> StrategyClass:
        register(prefix)(cls)
        _FAMILIES[prefix] = option
        return cls

    return decorate


def _family(name: str) -> tuple[str, str, str] | None:
    """``(prefix, option, suffix)`` for a family name such as ``optuna:TPESampler``."""
    STRATEGIES.load()
    prefix, colon, suffix = name.partition(":")
    if colon and suffix and prefix in _FAMILIES:
        return prefix, _FAMILIES[prefix], suffix
    return None


def available_strategies() -> list[str]:
    return STRATEGIES.names()


def is_strategy(name: str) -> bool:
    """Whether ``name`` is a registered strategy or a member of a family (``optuna:TPESampler``)."""
    return name in STRATEGIES or _family(name) is not None


def strategy_class(name: str) -> type[Strategy]:
    """The class ``name`` builds; a ``ConfigError`` lists the valid names if there is none."""
    family = _family(name)
    return STRATEGIES.get(family[0] if family else name)


def strategy_options(name: str) -> dict[str, Any]:
    """The options a strategy accepts, with their defaults (``inspect.Parameter.empty`` if none)."""
    signature = inspect.signature(strategy_class(name).__init__)
    family = _family(name)
    return {
        p.name: p.default
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.name not in _NOT_OPTIONS
        and not (family and p.name == family[1])
    }


def make_strategy(
    name: str,
    space: SearchSpace,
    *,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    direction: str = "minimize",
) -> Strategy:
    """Build a strategy by name, checking its options against its constructor.

    ``direction`` is passed to strategies whose constructor takes it (those that learn
    from values); ``prefix:suffix`` names of a family pass the suffix as its option.
    """
    cls = strategy_class(name)
    options = dict(options or {})
    accepted = strategy_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = ", ".join(sorted(accepted)) or "none"
        raise ConfigError(
            f"strategy_options: strategy {name!r} has no option(s) {unknown}; its options: {valid}."
        )
    missing = sorted(
        k for k, v in accepted.items() if v is inspect.Parameter.empty and k not in options
    )
    if missing:
        raise ConfigError(f"strategy_options: strategy {name!r} needs option(s) {missing}.")
    family = _family(name)
    if family:
        options[family[1]] = family[2]
    if "direction" in inspect.signature(cls.__init__).parameters:
        options["direction"] = direction
    try:
        return cls(space, seed=seed, **options)
    except TypeError as exc:
        raise ConfigError(f"strategy_options: {exc}") from None
