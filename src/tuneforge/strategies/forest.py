"""SMAC-style search: a random-forest surrogate, expected improvement, local search.

For spaces where a Gaussian process is slow or weak: many parameters, many categoricals,
conditional parameters, or thousands of trials. Each ask fits a random forest
(scikit-learn, ``models/forest.py``) to the standardized, warped losses; the spread of its
trees is the uncertainty. Expected improvement is maximized by hill climbing (Gaussian
steps on numeric parameters, one-exchange moves on categories and integers) from the best
observed configurations and from the best of many random ones, as SMAC does. A fraction
``random_fraction`` of the asks (chosen by the seeded generator) is a random
configuration instead, which keeps the forest honest where it has no data.

Pending trials are "lied" to the forest as the mean of the observed values (a constant
liar) and are never proposed again; failed trials count as the worst value seen. Past
``REFIT_ALWAYS`` trials the forest is refitted only when the history has grown by
``REFIT_GROWTH`` (2%), so a long job's asks stay in the tens of milliseconds.

Example:
    >>> from tuneforge.space import SearchSpace, Float, Categorical
    >>> space = SearchSpace({"x": Float(0.0, 1.0), "c": Categorical(["a", "b"])})
    >>> ForestSearch(space, seed=0).ask()["c"] in ("a", "b")
    True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tuneforge.space import SearchSpace
from tuneforge.strategies.base import register
from tuneforge.strategies.models.acquisition import local_search, log_expected_improvement
from tuneforge.strategies.models.forest import Forest
from tuneforge.strategies.models.search import (
    Array,
    ModelBasedSearch,
    check_float_option,
    check_int_option,
    robust_standardize,
)

#: Best observed configurations the local search starts from.
N_LOCAL_STARTS = 8
#: Up to this many trials the forest is refitted at every ask; beyond, when the history
#: has grown by REFIT_GROWTH since the last fit (one more trial among a thousand changes
#: the forest little, and refitting is most of an ask's time).
REFIT_ALWAYS = 300
REFIT_GROWTH = 0.02


class ForestProposer:
    """Fits the forest to a ``ModelBasedSearch``'s history and maximizes EI by local search."""

    def __init__(
        self,
        search: ModelBasedSearch,
        *,
        n_trees: int,
        n_candidates: int,
        random_fraction: float,
    ) -> None:
        self.search = search
        encoder = search.encoder
        self.forest = Forest(
            n_trees=n_trees,
            n_values=[
                n if categorical else 0
                for n, categorical in zip(encoder.n_values, encoder.categorical, strict=True)
            ],
        )
        self.n_candidates = n_candidates
        self.random_fraction = random_fraction
        self._fitted_on = 0
        self._fit: tuple[Array, Array, npt.NDArray[np.bool_]] | None = None

    def propose(self, rng: np.random.Generator) -> Array | None:
        if rng.random() < self.random_fraction:
            return None  # interleaved random configuration
        search = self.search
        n = search.n_observations + len(search.pending_features())
        if self._fit is None or n <= REFIT_ALWAYS or n >= (1 + REFIT_GROWTH) * self._fitted_on:
            x, losses, failed = search.observations()
            y = robust_standardize(losses)
            pending = search.pending_features()
            if len(pending):
                x = np.vstack([x, pending])
                y = np.concatenate([y, np.full(len(pending), float(np.mean(y)))])
            self.forest.fit(x, y, rng)
            self._fit, self._fitted_on = (x, y, failed), n
        x, y, failed = self._fit
        completed = np.flatnonzero(~failed)
        best = float(np.min(y[completed])) if completed.size else float(np.min(y))

        def score(rows: Array) -> Array:
            mean, var = self.forest.predict(rows)
            return log_expected_improvement(mean, var, best)

        random_rows = search.encoder.random(self.n_candidates, rng)
        random_scores = score(random_rows)
        ranked = completed[np.argsort(y[completed], kind="stable")[:N_LOCAL_STARTS]]
        top_random = random_rows[np.argsort(-random_scores)[: max(2, N_LOCAL_STARTS // 2)]]
        starts = np.vstack([x[ranked], top_random])
        rows, scores = local_search(score, search.encoder, starts, rng)
        rows, scores = np.vstack([rows, random_rows]), np.concatenate([scores, random_scores])
        exclude = search.excluder()
        for index in np.argsort(-scores, kind="stable"):
            if not exclude(rows[index]):
                return np.asarray(rows[index], dtype=float)
        return None


@register("forest")
class ForestSearch(ModelBasedSearch):
    """Random-forest surrogate with expected improvement and local search (SMAC style).

    Options:
        n_initial: trials of the initial Sobol' design (default ``min(max(dim + 1, 5), 10)``).
        n_trees: trees in the forest (default 24).
        n_candidates: random candidates scored each ask (default 500).
        random_fraction: share of asks that return a random configuration (default 0.1).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        direction: str = "minimize",
        n_initial: int | None = None,
        n_trees: int = 24,
        n_candidates: int = 500,
        random_fraction: float = 0.1,
    ) -> None:
        super().__init__(space, seed=seed, direction=direction, n_initial=n_initial)
        self.proposer = ForestProposer(
            self,
            n_trees=check_int_option("n_trees", n_trees, 1),
            n_candidates=check_int_option("n_candidates", n_candidates, 1),
            random_fraction=check_float_option("random_fraction", random_fraction, 0.0, 1.0),
        )

    def _propose(self, rng: np.random.Generator) -> Array | None:
        return self.proposer.propose(rng)
