"""Bayesian optimization with a Gaussian process: the strongest search for small budgets.

Each ask fits a GP (Matérn-5/2, one length scale per parameter, priors on its
hyperparameters; see ``models/gp.py``) to the standardized, Yeo-Johnson-warped losses of
the told trials and proposes the configuration that maximizes log expected improvement
(``models/acquisition.py``). Log-scaled parameters are modelled in log space, integers
and categories stay on their grid, categoricals are compared by equality, and inactive
conditional parameters by their activity.

* Parallel trials: pending configurations are added to the GP as "kriging believer"
  fantasies (their value is the posterior mean), which removes their expected improvement,
  so concurrent asks spread out instead of repeating each other.
* Failed trials count as the worst value seen, so their region is avoided.
* Large histories: past ``max_observations`` trials the GP is fitted on the best half and
  a random sample of the rest; the hyperparameters are refitted when the history has grown
  by a tenth since the last fit (otherwise the GP is only re-conditioned), which keeps an
  ask in the tens of milliseconds up to a few hundred trials.

Example:
    >>> from tuneforge.space import SearchSpace, Float
    >>> search = BayesianSearch(SearchSpace({"x": Float(-5.0, 5.0)}), seed=0)
    >>> -5.0 <= search.ask()["x"] <= 5.0
    True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tuneforge.space import SearchSpace
from tuneforge.strategies.base import register
from tuneforge.strategies.models.acquisition import maximize_gp
from tuneforge.strategies.models.gp import GaussianProcess, Hyperparameters
from tuneforge.strategies.models.search import (
    Array,
    ModelBasedSearch,
    check_int_option,
    robust_standardize,
)

#: How many of the best observed points seed the local candidates of the acquisition.
N_ANCHORS = 5


class GPProposer:
    """Fits the GP to a ``ModelBasedSearch``'s history and maximizes LogEI."""

    def __init__(
        self, search: ModelBasedSearch, *, n_candidates: int, max_observations: int
    ) -> None:
        self.search = search
        self.n_candidates = n_candidates
        self.max_observations = max_observations
        self.gp = GaussianProcess(search.encoder.categorical)
        self._hyper: Hyperparameters | None = None
        self._fitted_on = 0

    def propose(self, rng: np.random.Generator) -> Array | None:
        search = self.search
        x, losses, failed = search.observations()
        if len(x) > self.max_observations:
            keep = self._subsample(losses, failed, rng)
            x, losses, failed = x[keep], losses[keep], failed[keep]
        y = robust_standardize(losses)
        n = len(x)
        if self._hyper is None or n <= 60 or n >= 1.1 * self._fitted_on:
            self.gp.fit(x, y, rng, n_restarts=2 if n <= 100 else 0, start=self._hyper)
            assert self.gp.hyper is not None
            self._hyper, self._fitted_on = self.gp.hyper, n
        else:
            self.gp.condition(x, y, self._hyper)
        completed = ~failed
        best = float(np.min(y[completed])) if completed.any() else float(np.min(y))
        pending = search.pending_features()
        if len(pending):
            mean, _ = self.gp.predict(pending)
            self.gp.condition(np.vstack([x, pending]), np.concatenate([y, mean]), self._hyper)
            best = min(best, float(np.min(mean)))
        ranked = np.argsort(np.where(completed, y, np.inf), kind="stable")[:N_ANCHORS]
        return maximize_gp(
            self.gp,
            search.encoder,
            best,
            x[ranked[completed[ranked]]],
            rng,
            n_candidates=self.n_candidates,
            exclude=search.excluder(),
        )

    def _subsample(
        self, losses: Array, failed: npt.NDArray[np.bool_], rng: np.random.Generator
    ) -> npt.NDArray[np.intp]:
        """Indices of the best half of ``max_observations`` and a random sample of the rest."""
        order = np.argsort(np.where(failed, np.inf, losses), kind="stable")
        n_best = self.max_observations // 2
        rest = order[n_best:]
        sample = rng.choice(rest, self.max_observations - n_best, replace=False)
        return np.sort(np.concatenate([order[:n_best], sample]))


@register("bayesian")
class BayesianSearch(ModelBasedSearch):
    """Gaussian-process Bayesian optimization with log expected improvement.

    Options:
        n_initial: trials of the initial Sobol' design (default ``min(max(dim + 1, 5), 10)``).
        n_candidates: random candidates scored before the local refinement (default 1024).
        max_observations: the most trials the GP is fitted on (default 300).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        direction: str = "minimize",
        n_initial: int | None = None,
        n_candidates: int = 1024,
        max_observations: int = 300,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction, n_initial=n_initial)
        self.proposer = GPProposer(
            self,
            n_candidates=check_int_option("n_candidates", n_candidates, 1),
            max_observations=check_int_option("max_observations", max_observations, 10),
        )

    def _propose(self, rng: np.random.Generator) -> Array | None:
        return self.proposer.propose(rng)
