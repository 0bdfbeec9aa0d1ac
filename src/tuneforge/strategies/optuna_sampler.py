"""``optuna:<Sampler>``: any Optuna sampler drives a tuneforge job (bring your own optimizer).

``strategy: optuna:TPESampler`` (or ``GPSampler``, ``CmaEsSampler``, ``QMCSampler``,
``RandomSampler``, ...) with ``strategy_options: {sampler_options: {n_startup_trials: 5}}``
builds ``optuna.samplers.<Sampler>(seed=<job seed>, **sampler_options)`` and an in-memory
study in the job's direction. Each ask is an Optuna ``study.ask()`` whose parameters are
suggested in the space's order, parents first, so conditional parameters are suggested
only when active (Optuna's define-by-run). Forbidden configurations are told to Optuna as
pruned (so TPE learns to avoid them) and asked again. Each tell finds the Optuna trial of
the same configuration and tells its value (or FAIL); trials Optuna did not propose
(enqueued, warm start) are added with ``study.add_trial``. Optuna's own INFO log lines
are silenced (tuneforge reports trials itself).

Optuna is an optional dependency (``pip install tuneforge[optuna]``); it is imported when
such a strategy is built, never when tuneforge starts.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tuneforge.errors import ConfigError
from tuneforge.space import Categorical, Float, Int, Parameter, SearchSpace
from tuneforge.space.search_space import MAX_REJECTIONS
from tuneforge.strategies.base import Config, Strategy, Suggestion, register_family
from tuneforge.trial import Trial, TrialOrigin, TrialState


def _import_optuna() -> Any:
    try:
        return importlib.import_module("optuna")
    except ImportError:
        raise ConfigError(
            "strategy: optuna:<Sampler> needs Optuna; install it with "
            "`pip install tuneforge[optuna]` (or `pip install optuna`)."
        ) from None


@register_family("optuna", option="sampler")
class OptunaSearch(Strategy):
    """Adapter that asks an Optuna sampler for every configuration.

    Options:
        sampler: the class name in ``optuna.samplers`` (given by ``optuna:<Sampler>``;
            ``optuna`` alone is ``TPESampler``).
        sampler_options: keyword arguments of the sampler's constructor.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        direction: str = "minimize",
        sampler: str = "TPESampler",
        sampler_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        optuna = _import_optuna()
        self._optuna = optuna
        cls = getattr(optuna.samplers, sampler, None)
        if not isinstance(cls, type) or not issubclass(cls, optuna.samplers.BaseSampler):
            valid = sorted(
                name
                for name in dir(optuna.samplers)
                if name.endswith("Sampler") and not name.startswith(("Base", "Partial"))
            )
            raise ConfigError(
                f"strategy: optuna has no sampler {sampler!r}; expected one of "
                f"{', '.join(valid)} (as optuna:<Sampler>)."
            )
        if not isinstance(sampler_options, Mapping | None):
            raise ConfigError(
                f"strategy_options.sampler_options: expected a mapping of the sampler's "
                f"arguments, got {sampler_options!r}."
            )
        options = dict(sampler_options or {})
        accepted = inspect.signature(cls).parameters
        if "seed" in accepted and "seed" not in options:
            options["seed"] = seed
        try:
            self.sampler = cls(**options)
        except TypeError as exc:
            raise ConfigError(f"strategy_options.sampler_options: {sampler}: {exc}") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.sampler_name = sampler
        self.study = optuna.create_study(sampler=self.sampler, direction=direction)
        self._distributions = {
            name: _distribution(optuna, parameter) for name, parameter in space.parameters.items()
        }
        self._pending: list[tuple[Config, Any]] = []

    def ask(self) -> Suggestion | None:
        try:
            return Suggestion(self._ask())
        except ModuleNotFoundError as exc:
            # Some samplers import their own dependency when they first sample
            # (CmaEsSampler needs ``cmaes``, GPSampler ``torch``).
            raise ConfigError(
                f"strategy: optuna:{self.sampler_name} needs the Python package "
                f"{exc.name!r}; install it (pip install {exc.name})."
            ) from None

    def _ask(self) -> Config:
        for _ in range(MAX_REJECTIONS):
            trial = self.study.ask()
            config: Config = {}
            for name, parameter in self.space.parameters.items():
                if self.space.is_active(name, config):
                    config[name] = _suggest(trial, name, parameter)
            if not self.space.is_forbidden(config):
                self._pending.append((dict(config), trial))
                return config
            # PRUNED, not FAIL: TPE counts pruned trials among the bad ones and moves away,
            # while it ignores failed ones and would keep proposing the forbidden region.
            self.study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
        return self.space.sample(self.rng)  # raises SpaceError: everything is forbidden

    def tell(self, trial: Trial) -> None:
        optuna = self._optuna
        value = trial.value
        completed = (
            trial.state is TrialState.COMPLETED and value is not None and math.isfinite(value)
        )
        state = optuna.trial.TrialState.COMPLETE if completed else optuna.trial.TrialState.FAIL
        for i, (config, pending) in enumerate(self._pending):
            if config == trial.params:
                del self._pending[i]
                self.study.tell(pending, value if completed else None, state=state)
                return
        if not trial.state.is_finished():
            return
        params = dict(trial.params)
        if set(params) - set(self._distributions):
            return  # a trial of another space: Optuna could not place it
        try:
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions={name: self._distributions[name] for name in params},
                    value=value if completed else None,
                    state=state,
                )
            )
        except ValueError:
            return  # outside the distributions (warm start from another space)

    def restore(self, trials: Sequence[Trial]) -> None:
        """Replay the asks (so seeded samplers continue their sequence), then tell.

        A replayed ask whose configuration differs from the stored trial (the original
        run interleaved tells) is failed in Optuna, and the stored trial is added as is.
        """
        ordered = sorted(trials, key=lambda t: t.number)
        mine = [t for t in ordered if t.origin == TrialOrigin.STRATEGY]
        for stored in mine:
            config = self.ask()
            if config != stored.params:
                self._forget(config)
        for trial in trials:
            if trial.state.is_finished():
                self.tell(trial)

    def _forget(self, config: Mapping[str, Any] | None) -> None:
        for i, (pending_config, pending) in enumerate(self._pending):
            if pending_config == config:
                del self._pending[i]
                self.study.tell(pending, state=self._optuna.trial.TrialState.FAIL)
                return


def _distribution(optuna: Any, parameter: Parameter) -> Any:
    distributions = optuna.distributions
    if isinstance(parameter, Float):
        return distributions.FloatDistribution(parameter.low, parameter.high, log=parameter.log)
    if isinstance(parameter, Int):
        return distributions.IntDistribution(parameter.low, parameter.high, log=parameter.log)
    assert isinstance(parameter, Categorical)
    return distributions.CategoricalDistribution(list(parameter.values))


def _suggest(trial: Any, name: str, parameter: Parameter) -> Any:
    if isinstance(parameter, Float):
        return float(trial.suggest_float(name, parameter.low, parameter.high, log=parameter.log))
    if isinstance(parameter, Int):
        return int(trial.suggest_int(name, parameter.low, parameter.high, log=parameter.log))
    assert isinstance(parameter, Categorical)
    return parameter.check(trial.suggest_categorical(name, list(parameter.values)))
