"""What every model-based strategy shares: history, pending trials, initial design, restore.

``ModelBasedSearch`` turns the ask/tell stream into arrays a model can learn from and
leaves one decision to subclasses, ``_propose``: the next feature row given the history.

* **Direction.** Values are kept as losses (``-value`` when maximizing).
* **Failed trials** are not ignored: they count as the worst completed value, so the model
  steers away from their region. Trials stopped early by the stopping rule
  (``STOPPED_EARLY``) are treated the same way (they were stopped for looking bad; their
  partial value is of a lower fidelity). Trials stopped by a person (``STOPPED``) teach
  nothing and are dropped.
* **Pending trials.** The controller does not tell running trials, so the strategy keeps
  what it asked and was not told yet (matched by configuration, since warm-start trials
  of other jobs may share numbers); ``_propose`` sees them and must not repeat them.
* **Initial design.** Until ``n_initial`` trials are told or running (or while fewer than
  two values are known), asks return the points of a scrambled Sobol' sequence.
* **Determinism.** Ask number ``k`` draws from a generator seeded by ``(entropy, k)``,
  where ``entropy`` comes from ``self.rng``: the same seed and history give the same
  sequence, and ``restore`` rebuilds the state without re-running (slow) model asks.
* **One BLAS thread.** The model's matrices are small (hundreds of rows), where BLAS
  threads only add overhead, and on a busy machine spinning threads made asks ten times
  slower; proposals run under ``threadpoolctl``'s limit of one thread.
* **Output transform.** Losses are standardized robustly (median and scale), passed
  through a Yeo-Johnson power transform fitted by maximum likelihood (heavy tails such as
  Rosenbrock's stop dominating the model) and standardized again.
"""

from __future__ import annotations

import abc
import inspect
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.stats import qmc
from threadpoolctl import ThreadpoolController

from tuneforge.errors import ConfigError, SpaceError
from tuneforge.space import SearchSpace
from tuneforge.strategies.base import Config, Strategy, Suggestion
from tuneforge.strategies.models.encoding import Encoder, feature_key
from tuneforge.trial import Trial, TrialOrigin, TrialState

Array = npt.NDArray[np.float64]

_RNG_ARGUMENT = "rng" if "rng" in inspect.signature(qmc.Sobol).parameters else "seed"
#: Draws tried when a design point is forbidden or already taken.
_MAX_DRAWS = 200
_THREADPOOLS: ThreadpoolController | None = None


def _threadpools() -> ThreadpoolController:
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS


def robust_standardize(losses: Array) -> Array:
    """Losses -> standardized, Yeo-Johnson-warped values (same order, lower is better)."""
    y = np.asarray(losses, dtype=float)
    if len(y) < 2:
        return np.zeros_like(y)
    center = float(np.median(y))
    q75, q25 = np.percentile(y, [75, 25])
    scale = float(q75 - q25) or float(np.std(y)) or 1.0
    z = (y - center) / scale
    if len(np.unique(z)) > 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                lam = float(stats.yeojohnson_normmax(z))
                if math.isfinite(lam):
                    z = stats.yeojohnson(z, lmbda=float(np.clip(lam, -1.0, 3.0)))
            except (ValueError, FloatingPointError, OverflowError):
                pass
    std = float(np.std(z))
    return np.asarray((z - np.mean(z)) / (std if std > 0 else 1.0), dtype=float)


def check_int_option(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"strategy_options.{name}: expected an int >= {low}, got {value!r}.")
    return value


def check_float_option(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"strategy_options.{name}: expected a number in [{low}, {high}], got {value!r}."
        )
    return float(value)


class ModelBasedSearch(Strategy):
    """The shared machinery; a subclass implements ``_propose``.

    Options common to model-based strategies:
        n_initial: trials of the initial Sobol' design before the model takes over
            (``None``: ``min(max(dim + 1, 5), 10)``).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        direction: str = "minimize",
        n_initial: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction)
        self.encoder = Encoder(space)
        if n_initial is None:
            n_initial = min(max(len(space) + 1, 5), 10)
        self.n_initial = check_int_option("n_initial", n_initial, 1)
        self._entropy = int(self.rng.integers(2**63 - 1))
        self._n_asked = 0
        self._features: list[Array] = []
        self._losses: list[float] = []  # NaN for failed and early-stopped trials
        self._keys: set[tuple[float, ...]] = set()  # feature keys of the observations
        self._pending: list[tuple[Config, Array]] = []
        self._design: Array = np.empty((0, len(space)))

    # -- what the model sees --------------------------------------------------------------
    @property
    def n_observations(self) -> int:
        """Told trials the model learns from (completed, failed, stopped early)."""
        return len(self._losses)

    @property
    def n_asked(self) -> int:
        """Asks so far, the current one included (also counted for restored trials)."""
        return self._n_asked

    @property
    def n_completed(self) -> int:
        return int(np.isfinite(np.asarray(self._losses, dtype=float)).sum())

    def observations(self) -> tuple[Array, Array, npt.NDArray[np.bool_]]:
        """Feature rows, losses with failures imputed as the worst loss, and the failed mask."""
        x = np.array(self._features, dtype=float).reshape(len(self._features), len(self.space))
        losses = np.array(self._losses, dtype=float)
        failed = ~np.isfinite(losses)
        if failed.any() and (~failed).any():
            losses[failed] = float(np.max(losses[~failed]))
        return x, losses, failed

    def pending_features(self) -> Array:
        rows = [f for _, f in self._pending]
        return np.array(rows, dtype=float).reshape(len(rows), len(self.space))

    def taken(self) -> set[tuple[float, ...]]:
        """Keys of every configuration observed or pending (never proposed again)."""
        keys = set(self._keys)
        keys.update(feature_key(f) for _, f in self._pending)
        return keys

    # -- ask / tell -----------------------------------------------------------------------
    def ask(self) -> Suggestion | None:
        rng = np.random.default_rng([self._entropy, self._n_asked])
        index = self._n_asked
        self._n_asked += 1
        if not len(self.space):
            return Suggestion({})
        taken = self.taken()
        features: Array | None = None
        in_design = (
            self.n_observations + len(self._pending) < self.n_initial or self.n_completed < 2
        )
        if not in_design:
            with _threadpools().limit(limits=1):
                features = self._propose(rng)
        if features is None:
            features = self._design_point(index, rng, taken)
        config = self.encoder.config(features)
        self._pending.append((dict(config), self.encoder.features(config)))
        return Suggestion(config)

    @abc.abstractmethod
    def _propose(self, rng: np.random.Generator) -> Array | None:
        """The next feature row (not observed, not pending, not forbidden), or None to
        fall back to a random configuration."""

    def _design_point(
        self, index: int, rng: np.random.Generator, taken: set[tuple[float, ...]]
    ) -> Array:
        """Point ``index`` of the Sobol' design, or random draws if it is forbidden or taken."""
        if index >= len(self._design):
            size = 1 << max(index + 1, 16).bit_length()
            engine = qmc.Sobol(
                len(self.space),
                scramble=True,
                **{_RNG_ARGUMENT: np.random.default_rng([self._entropy, 2**32])},
            )
            self._design = engine.random(size)
        candidates = [self.encoder.canonical(self._design[index][None, :])[0]]
        candidates.extend(self.encoder.random(_MAX_DRAWS, rng))
        fallback = candidates[0]
        for row in candidates:
            if feature_key(row) not in taken and self.encoder.is_valid(row):
                return np.asarray(row, dtype=float)
            if self.encoder.is_valid(row):
                fallback = row
        if not self.encoder.is_valid(fallback):
            config = self.space.sample(rng)  # raises SpaceError when nothing is allowed
            return self.encoder.features(config)
        return np.asarray(fallback, dtype=float)

    def tell(self, trial: Trial) -> None:
        self._forget_pending(trial.params)
        if not trial.state.is_finished() or trial.state is TrialState.STOPPED:
            return
        try:
            config = self.space.check(dict(trial.params))
        except SpaceError:
            return  # a trial of another space (warm start): nothing to learn here
        if trial.state is TrialState.COMPLETED:
            if trial.value is None or not math.isfinite(trial.value):
                loss = math.nan
            else:
                loss = self.direction.sign * float(trial.value)
        else:  # FAILED, STOPPED_EARLY: a region to avoid
            loss = math.nan
        features = self.encoder.features(config)
        self._features.append(features)
        self._losses.append(loss)
        self._keys.add(feature_key(features))

    def _forget_pending(self, params: object) -> None:
        for i, (config, _) in enumerate(self._pending):
            if config == params:
                del self._pending[i]
                return

    def restore(self, trials: Sequence[Trial]) -> None:
        """Rebuild the state after ``trials`` without re-running the model's asks.

        Asks are seeded by their index, so it is enough to count the strategy's trials,
        keep the unfinished ones as pending and tell the finished ones.
        """
        ordered = sorted(trials, key=lambda t: t.number)
        self._n_asked += sum(1 for t in ordered if t.origin == TrialOrigin.STRATEGY)
        for trial in ordered:
            if trial.origin == TrialOrigin.STRATEGY and not trial.state.is_finished():
                try:
                    config = self.space.check(dict(trial.params))
                except SpaceError:
                    continue
                self._pending.append((config, self.encoder.features(config)))
        for trial in ordered:
            if trial.state.is_finished():
                self.tell(trial)

    # -- helpers for subclasses -----------------------------------------------------------
    def excluder(self) -> Callable[[Array], bool]:
        """A test for rows a proposal must not return: observed, pending or forbidden."""
        taken, encoder = self.taken(), self.encoder

        def exclude(row: Array) -> bool:
            return feature_key(row) in taken or not encoder.is_valid(row)

        return exclude
